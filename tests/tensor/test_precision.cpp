// tests/tensor/test_precision.cpp — BF16 mixed precision on the CPU (tensor/precision.h): the
// round_bf16 op against hand-worked bit patterns and against an independent rounding (the two
// neighbouring bf16 values, compared in exact double arithmetic); the precision guard; a matmul
// in bf16 against a naive product of the rounded inputs; the fused attention in bf16 against its
// composite twin, whose matmuls round for themselves. The simulator's side is
// tests/cuda/test_precision_cuda.cpp.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/composite.h"
#include "base/bf16.h"
#include "tensor/ops.h"
#include "tensor/precision.h"

using namespace kiso;

namespace {

// The nearest bf16 to a finite x by search, not by bit tricks: the bf16 values just below and
// just above x in magnitude (truncating the low 16 bits of |x|, and the next one up), compared
// in double, which holds every f32 and every midpoint exactly; a tie goes to the even one.
uint16_t nearest_bf16_bits(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  uint32_t sign = u & 0x80000000u, mag = u & 0x7fffffffu;
  uint32_t lo = mag >> 16, hi = lo + 1;  // hi may be 0x7f80: infinity, the value past the largest
  double a = std::abs(double(x));
  double vlo = double(std::bit_cast<float>(lo << 16));
  double vhi = hi == 0x7f80u ? std::ldexp(1.0, 128) : double(std::bit_cast<float>(hi << 16));  // 2^128: where
  // infinity sits for rounding (IEEE: a value at or past the midpoint of the largest and 2^128 overflows)
  uint32_t pick = (a - vlo < vhi - a) ? lo : (a - vlo > vhi - a) ? hi : ((lo & 1u) ? hi : lo);
  return uint16_t((sign >> 16) | pick);
}

uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }
float from_bits(uint32_t u) { return std::bit_cast<float>(u); }

// The special cases, each with the bf16 it must become (the upper 16 bits of the result; the
// lower ones must be zero).
struct Case {
  uint32_t in;
  uint16_t out;
  const char* why;
};
constexpr Case kCases[] = {
    {0x3f800000u, 0x3f80, "1 is a bf16"},
    {0x3f808000u, 0x3f80, "1 + 2^-8: halfway between 1 and 1 + 2^-7, ties to even (down)"},
    {0x3f818000u, 0x3f82, "halfway between 0x3f81 and 0x3f82: ties to even (up)"},
    {0x3f807fffu, 0x3f80, "just under halfway: down"},
    {0x3f808001u, 0x3f81, "just over halfway: up"},
    {0xbf818000u, 0xbf82, "a negative tie: to even, by magnitude"},
    {0x3fffffffu, 0x4000, "rounding up carries into the exponent"},
    {0x00000000u, 0x0000, "+0"},
    {0x80000000u, 0x8000, "-0 keeps its sign"},
    {0x7f800000u, 0x7f80, "+inf"},
    {0xff800000u, 0xff80, "-inf"},
    {0x7f7f0000u, 0x7f7f, "the largest finite bf16"},
    {0x7f7f7fffu, 0x7f7f, "just under the midpoint past it: stays finite"},
    {0x7f7f8000u, 0x7f80, "the midpoint past the largest bf16 (odd): rounds to +inf"},
    {0x7f7fffffu, 0x7f80, "the largest f32 overflows to +inf"},
    {0xff7fffffu, 0xff80, "the most negative f32 to -inf"},
    {0x00000001u, 0x0000, "the smallest subnormal rounds to 0"},
    {0x00008000u, 0x0000, "a subnormal tie to the even 0"},
    {0x00018000u, 0x0002, "a subnormal tie to the even 0x0002"},
    {0x00010000u, 0x0001, "the smallest bf16 subnormal is kept"},
    {0x007fffffu, 0x0080, "the largest subnormal rounds up to the smallest normal"},
    {0x80008001u, 0x8001, "a negative subnormal just over halfway"},
};

}  // namespace

TEST_SUITE("tensor") {

TEST_CASE("round_bf16: ties to even, signed zero, infinities, overflow, subnormals, NaN (op and base/bf16.h)") {
  std::vector<float> in;
  for (const Case& c : kCases) in.push_back(from_bits(c.in));
  in.push_back(from_bits(0x7fc00000u));  // a quiet NaN
  in.push_back(from_bits(0x7f800001u));  // a signalling NaN: the rounding add must not make it inf
  in.push_back(from_bits(0xffffffffu));  // a negative NaN with every payload bit set: no carry out
  Tensor y = round_bf16(from_vector(in, {int64_t(in.size())}));
  std::vector<float> out = y.to_vector<float>();
  size_t i = 0;
  for (const Case& c : kCases) {
    CAPTURE(c.why);
    CHECK(bits(out[i]) == uint32_t(c.out) << 16);       // the op
    CHECK(to_bf16(from_bits(c.in)).bits == c.out);       // the scalar it calls
    CHECK(nearest_bf16_bits(from_bits(c.in)) == c.out);  // the independent oracle agrees on the cases
    ++i;
  }
  for (; i < out.size(); ++i) {
    CAPTURE(i);
    CHECK(std::isnan(out[i]));
    CHECK((bits(out[i]) & 0xffffu) == 0);
    CHECK((bits(out[i]) >> 31) == (bits(in[i]) >> 31));  // the sign is kept
  }
}

TEST_CASE("round_bf16: 200k random bit patterns, the op against an independent nearest-value search") {
  // Every exponent (the patterns are uniform over all 2^32), so normals, subnormals, the
  // overflow band and exact ties (low 16 bits 0x8000: forced in every 16th) all occur.
  Generator gen{2024};
  std::vector<float> u = rand({200000}, gen).to_vector<float>(), v = rand({200000}, gen).to_vector<float>();
  std::vector<float> in(u.size());
  for (size_t i = 0; i < in.size(); ++i) {
    uint32_t b = (uint32_t(u[i] * 65536.0f) << 16) | uint32_t(v[i] * 65536.0f);
    if (i % 16 == 0) b = (b & 0xffff0000u) | 0x8000u;
    in[i] = from_bits(b);
  }
  std::vector<float> out = round_bf16(from_vector(in, {int64_t(in.size())})).to_vector<float>();
  int64_t wrong = 0, nan = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (std::isnan(in[i])) {
      nan += std::isnan(out[i]) ? 1 : 0;
      wrong += std::isnan(out[i]) ? 0 : 1;
      continue;
    }
    wrong += bits(out[i]) != uint32_t(nearest_bf16_bits(in[i])) << 16;
  }
  CHECK(wrong == 0);
  CHECK(nan > 0);  // the patterns did reach the NaN band
}

TEST_CASE("round_bf16 refuses f64; the precision guard nests and restores; names parse") {
  CHECK_THROWS_WITH_AS(round_bf16(zeros({2}, DType::f64)), doctest::Contains("input must be f32"), Error);
  CHECK(matmul_precision() == Precision::f32);
  {
    PrecisionGuard outer(Precision::bf16);
    CHECK(matmul_precision() == Precision::bf16);
    {
      PrecisionGuard inner(Precision::f32);
      CHECK(matmul_precision() == Precision::f32);
    }
    CHECK(matmul_precision() == Precision::bf16);
  }
  CHECK(matmul_precision() == Precision::f32);
  CHECK(parse_precision("bf16", "x") == Precision::bf16);
  CHECK(parse_precision("f32", "x") == Precision::f32);
  CHECK(to_string(Precision::bf16) == "bf16");
  CHECK_THROWS_WITH_AS(parse_precision("fp16", "state.json"),
                       doctest::Contains("state.json: precision must be f32 or bf16, got \"fp16\""), Error);
  // f64 products are gradient checks: refused in bf16 rather than silently run in f64
  PrecisionGuard bf16(Precision::bf16);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 2}, DType::f64), zeros({2, 2}, DType::f64)),
                       doctest::Contains("bf16 precision rounds f32 inputs"), Error);
}

TEST_CASE("matmul in bf16: the product of the rounded inputs with f32 sums, every transpose, batched") {
  // Oracle: a naive product in double of the inputs rounded by round_bf16. The bf16 products of
  // two bf16 numbers are exact in f32 (8 + 8 significand bits), so the only rounding left on
  // kiso's side is the f32 sum of K = 37 terms: |error| <= K·2^-24·Σ|a||b|, below 1e-5 of the
  // output's scale here. The f32 product of the unrounded inputs must be farther off than that
  // (inputs perturbed by up to 2^-9 relative move a sum of 37 random terms by ~1e-3 of its scale):
  // the check that bf16 mode really rounds.
  Generator gen{9};
  const int64_t batch = 2, M = 19, K = 37, N = 23;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      Tensor a = randn(ta ? Shape{batch, K, M} : Shape{batch, M, K}, gen);
      Tensor b = randn(tb ? Shape{batch, N, K} : Shape{batch, K, N}, gen);
      Tensor c16;
      {
        PrecisionGuard bf16(Precision::bf16);
        c16 = matmul(a, b, ta, tb);
      }
      Tensor c32 = matmul(a, b, ta, tb);
      std::vector<float> ar = round_bf16(a).to_vector<float>(), br = round_bf16(b).to_vector<float>();
      std::vector<float> got = c16.to_vector<float>(), f32 = c32.to_vector<float>();
      double worst = 0, scale = 0, moved = 0;
      for (int64_t p = 0; p < batch; ++p)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) {
              double x = ar[size_t(p * M * K + (ta ? k * M + i : i * K + k))];
              double y = br[size_t(p * K * N + (tb ? j * K + k : k * N + j))];
              s += x * y;
            }
            size_t at = size_t((p * M + i) * N + j);
            worst = std::max(worst, std::abs(double(got[at]) - s));
            moved = std::max(moved, std::abs(double(f32[at]) - s));
            scale = std::max(scale, std::abs(s));
          }
      CHECK(worst <= 1e-5 * scale);
      CHECK(moved > 1e-4 * scale);
    }
}

TEST_CASE("attention in bf16: the fused op rounds what its composite twin's matmuls round") {
  // The composite (autograd/composite.cpp) is built from matmul, which rounds its inputs in
  // bf16; the fused CPU op must round the same tensors (Q, K, V, P̃; dY, dS) itself. Both then
  // compute the same bf16 products with f32 sums. In f32 the twins agree to 2e-5 (the order of
  // the softmax passes and sums; test_composite.cpp); here, where they agree in f32, they round
  // the same values to the same bf16, and a value only rounds differently if the f32 passes
  // already differ at a rounding boundary (then that one input moves by 2^-8 of itself, diluted
  // in its sum). Measured: identical, 0 difference, so 1e-4 is a wide margin. A fused op that
  // skipped one of its roundings differs from the twin by that rounding's effect, ~1e-3 (bf16
  // against f32 measured 1.8e-3 .. 2.9e-3), which fails it; and bf16 must differ from f32.
  Generator gen{11};
  Tensor qkv = randn({2, 9, 3 * 8}, gen);
  Tensor proj = randn({2, 9, 8}, gen);  // the gradient sent back: a random projection of y
  auto run = [&](bool fused, double p) {
    Variable x(qkv.clone(), true);
    Generator g{3};
    Variable y = fused ? attention(x, 2, p, &g) : composite::attention(x, 2, p, &g);
    sum(y * Variable(proj)).backward();
    return std::pair{y.value(), x.grad()};
  };
  auto rel = [](const Tensor& a, const Tensor& b) {
    std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
    double d = 0, s = 1e-30;
    for (size_t i = 0; i < x.size(); ++i) d = std::max(d, double(std::abs(x[i] - y[i]))), s = std::max(s, double(std::abs(y[i])));
    return d / s;
  };
  for (double p : {0.0, 0.2}) {
    CAPTURE(p);
    auto [y32, g32] = run(true, p);
    PrecisionGuard bf16(Precision::bf16);
    auto [yf, gf] = run(true, p);
    auto [yc, gc] = run(false, p);
    CHECK(rel(yf, yc) < 1e-4);
    CHECK(rel(gf, gc) < 1e-4);
    CHECK(rel(yf, y32) > 5e-4);  // bf16 is not f32
    CHECK(rel(gf, g32) > 5e-4);
  }
}

}  // TEST_SUITE
