// base/f16.h — IEEE 754 half precision (binary16, "F16") widened to f32: how kiso reads the
// weights of a model that transformers saved in float16 (gpt/safetensors.h converts on load).
//
// A half is 1 sign bit, 5 exponent bits (bias 15) and 10 fraction bits:
//   exponent 1..30   normal:     (-1)^s · 2^(e-15) · 1.f
//   exponent 0       subnormal:  (-1)^s · 2^-14 · 0.f   (and ±0 when f = 0)
//   exponent 31      ±infinity when f = 0, NaN otherwise
// Every half is exactly an f32 (f32 has more exponent and more fraction bits), so widening never
// rounds: a normal half moves its exponent to f32's bias (127) and its fraction to the top of
// f32's 23 bits; a subnormal half is a normal f32 (2^-24 .. 2^-14 is well inside f32's range).
// (bfloat16, the other 16-bit float, is base/bf16.h: the top half of an f32.)
// What it is not: narrowing (kiso never writes F16) or arithmetic on halves.
#pragma once

#include <cstdint>
#include <cstring>

namespace kiso {

// The f32 with exactly the value of the half whose bits are `h`; NaN stays NaN (payload kept).
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t fraction = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 31) {
    bits = sign | 0x7f800000u | (fraction << 13);  // infinity, or NaN with the same payload
  } else if (exponent != 0) {
    bits = sign | ((exponent - 15 + 127) << 23) | (fraction << 13);  // normal
  } else if (fraction == 0) {
    bits = sign;  // ±0
  } else {
    // Subnormal: 2^-14 · fraction/2^10. Shift the fraction up until its leading 1 reaches bit 10
    // (the implicit bit); each shift halves the exponent the value has as a normal number.
    int e = -14;
    uint32_t f = fraction;
    while ((f & 0x400u) == 0) f <<= 1, --e;
    bits = sign | (uint32_t(e + 127) << 23) | ((f & 0x3ffu) << 13);
  }
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

}  // namespace kiso
