// base/bf16.h — bfloat16 in software: the 16-bit float that BF16 mixed precision stores matmul
// inputs and activations in, so that the CPU, the simulator and the GPU compute the same numbers.
//
// A bf16 is the top half of an IEEE f32: 1 sign bit, the same 8 exponent bits (so the same range,
// about 1e-38 .. 3e38) and 7 fraction bits instead of 23 (a relative step of 2^-8 ≈ 0.4%, versus
// 2^-24 for f32). Widening to f32 is exact: append 16 zero bits. Narrowing rounds to the nearest
// bf16, ties to the even one, as the hardware (cvt.rn.bf16.f32) does:
//   bits(x) + 0x7fff + (bit 16 of bits(x)), then drop the low 16 bits
// adds just under half a unit of the last kept place, plus one more when the kept part is odd,
// so an exact half rounds to even. A NaN stays a (quiet) NaN: the rounding add could carry a
// NaN's payload into the exponent and make it infinity. Infinities and overflow behave as in
// f32 (a finite value that rounds past the largest bf16 becomes infinity).
//
// A leaf header (base/): the tensor ops, the cuda kernels and the simulator's tensor-core twin
// include it. What it is not: arithmetic on bf16 — values are widened to f32, computed on, and
// rounded back where a bf16 is stored.
#pragma once

#include <cstdint>
#include <cstring>

#ifndef KISO_HOST_DEVICE
#ifdef __CUDACC__
#define KISO_HOST_DEVICE __host__ __device__
#else
#define KISO_HOST_DEVICE
#endif
#endif

namespace kiso {

struct bf16 {
  uint16_t bits = 0;
};

KISO_HOST_DEVICE inline uint32_t f32_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
KISO_HOST_DEVICE inline float f32_from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// f32 -> bf16, round to nearest, ties to even; NaN -> quiet NaN of the same sign.
KISO_HOST_DEVICE inline bf16 to_bf16(float x) {
  uint32_t u = f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}

// bf16 -> f32, exact.
KISO_HOST_DEVICE inline float to_f32(bf16 h) { return f32_from_bits(uint32_t(h.bits) << 16); }

// x rounded to the nearest bf16 and widened back: the value a bf16 store keeps.
KISO_HOST_DEVICE inline float round_bf16(float x) { return to_f32(to_bf16(x)); }

// TF32 (tensor cores' "tensor float 32": f32's range, 10 fraction bits) is how the TF32 mma
// reads an f32 input; the hardware's cvt.rna.tf32.f32 rounds to nearest, ties away from zero.
KISO_HOST_DEVICE inline float round_tf32(float x) {
  uint32_t u = f32_bits(x);
  if ((u & 0x7fffffffu) >= 0x7f800000u) return x;  // inf and NaN pass through
  u = (u + 0x1000u) & 0xffffe000u;
  return f32_from_bits(u);
}

}  // namespace kiso
