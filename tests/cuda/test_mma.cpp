// tests/cuda/test_mma.cpp — the tensor cores: mma.sync's simulated twin on its own
// (cuda/kernels/mma.h), and the two tensor-core matmul rungs (cuda/kernels/matmul_8_mma.cu).
//
// Oracles:
//   - the twin: a tiny kernel loads a known A, B and C into fragments by the formulas of the PTX
//     ISA (written out here a second time, in the ISA's own words, independently of mma.h's
//     helpers), runs one mma, stores D by the ISA's C/D layout; D must equal the f64 product of
//     the rounded inputs within the f32 accumulation bound. A kernel that swaps two fragment
//     registers must fail that bound, so the check can fail;
//   - the rungs, inputs pre-rounded to TF32 / BF16: the CPU's f32 matmul of the same numbers
//     (every product then is exact on both sides, so only the order of the f32 sums differs);
//   - the rungs, unrounded f32 inputs: the f64 product, within the TF32 / BF16 rounding bound,
//     and with an error clearly larger than an exact f32 rung can have (the rounding happens).
// The rung tests run on every device (on_each_device): the simulator, and the GPU when one is
// usable; the twin test runs on the simulator only (its kernel is compiled by g++).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "base/bf16.h"
#include "cuda/kernels.h"
#include "cuda/kernels/mma.h"
#include "tensor/ops.h"
#include "tests/cuda/each_device.h"

using namespace kiso;
using kiso::testing::on_each_device;

namespace {

// ---- the twin on its own ----

// The PTX ISA's names: groupID = %laneid >> 2, threadID_in_group = %laneid % 4.
// A (16 x 8) and B (8 x 8) row-major as the ISA draws them; C and D (16 x 8) row-major.
// swap: exchange registers a1 and a2 (a layout bug) before the mma.
__global__ void probe_tf32(const float* A, const float* B, const float* C, float* D, bool swap) {
  int lane = int(threadIdx.x), groupID = lane >> 2, tig = lane % 4;
  // "row = groupID for a0 and a2, groupID + 8 for a1 and a3;
  //  col = threadID_in_group for a0 and a1, threadID_in_group + 4 for a2 and a3"
  uint32_t a[4] = {cuda::to_tf32(A[groupID * 8 + tig]), cuda::to_tf32(A[(groupID + 8) * 8 + tig]),
                   cuda::to_tf32(A[groupID * 8 + tig + 4]), cuda::to_tf32(A[(groupID + 8) * 8 + tig + 4])};
  // "row = threadID_in_group for b0, threadID_in_group + 4 for b1; col = groupID"
  uint32_t b[2] = {cuda::to_tf32(B[tig * 8 + groupID]), cuda::to_tf32(B[(tig + 4) * 8 + groupID])};
  // "row = groupID for c0 and c1, groupID + 8 for c2 and c3; col = threadID_in_group * 2 + (i & 0x1)"
  int at[4];
  for (int i = 0; i < 4; ++i) at[i] = (i < 2 ? groupID : groupID + 8) * 8 + tig * 2 + (i & 1);
  float c[4], d[4];
  for (int i = 0; i < 4; ++i) c[i] = C[at[i]];
  if (swap) std::swap(a[1], a[2]);
  cuda::mma_tf32_m16n8k8(d, a, b, c);
  for (int i = 0; i < 4; ++i) D[at[i]] = d[i];
}

// A (16 x 16), B (16 x 8) row-major; BF16 elements two to a register, a_{2r} in the low half.
__global__ void probe_bf16(const float* A, const float* B, const float* C, float* D, bool swap) {
  int lane = int(threadIdx.x), groupID = lane >> 2, tig = lane % 4;
  // "row = groupID for ai where 0 <= i < 2 || 4 <= i < 6, groupID + 8 otherwise;
  //  col = (threadID_in_group * 2) + (i & 0x1) for ai where i < 4, ... + 8 for i >= 4"
  float ae[8];
  for (int i = 0; i < 8; ++i) {
    int row = (i < 2 || (4 <= i && i < 6)) ? groupID : groupID + 8;
    int col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
    ae[i] = A[row * 16 + col];
  }
  // "row = (threadID_in_group * 2) + (i & 0x1) for bi where i < 2, ... + 8 for i >= 2; col = groupID"
  float be[4];
  for (int i = 0; i < 4; ++i) be[i] = B[(tig * 2 + (i & 1) + (i >= 2 ? 8 : 0)) * 8 + groupID];
  uint32_t a[4], b[2];
  for (int r = 0; r < 4; ++r) a[r] = cuda::pack_bf16(ae[2 * r], ae[2 * r + 1]);
  for (int r = 0; r < 2; ++r) b[r] = cuda::pack_bf16(be[2 * r], be[2 * r + 1]);
  int at[4];
  for (int i = 0; i < 4; ++i) at[i] = (i < 2 ? groupID : groupID + 8) * 8 + tig * 2 + (i & 1);
  float c[4], d[4];
  for (int i = 0; i < 4; ++i) c[i] = C[at[i]];
  if (swap) std::swap(a[1], a[2]);
  cuda::mma_bf16_m16n8k16(d, a, b, c);
  for (int i = 0; i < 4; ++i) D[at[i]] = d[i];
}

// Numbers of both signs and many magnitudes, none exactly representable in TF32 / BF16 (so that
// rounding shows), reproducible: a small LCG, not the library's generator.
std::vector<float> awkward(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    double u = double(seed >> 8) / double(1u << 24);  // [0, 1)
    x = float((u - 0.5) * 3.0 * (1.0 + 1.0 / 3.0 * std::sin(17.0 * u)) + 1e-3 * u);
  }
  return v;
}

// Runs one probe; returns max_ij |D - D_exact| / bound_ij where D_exact = C + A_r·B_r in f64 on
// the rounded inputs, and bound_ij the f32 accumulation bound: the twin adds the K exact products
// to C one by one in f32, each addition off by at most 2^-24 of a partial sum, and every partial
// sum is at most |C| + Σ|a·b|; so |D - D_exact| <= K·2^-24·(|C| + Σ_k |a_ik b_kj|).
template <class Probe>
double probe_error(Probe probe, int K, float (*to_input)(float), bool swap) {
  std::vector<float> A = awkward(16 * size_t(K), 1), B = awkward(size_t(K) * 8, 2), C = awkward(16 * 8, 3);
  std::vector<float> D(16 * 8, -1.0f);
  KISO_LAUNCH(probe, dim3(1), dim3(32), 0, A.data(), B.data(), C.data(), D.data(), swap);
  double worst = 0;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      double exact = C[i * 8 + j], size = std::abs(C[i * 8 + j]);
      for (int k = 0; k < K; ++k) {
        double p = double(to_input(A[i * K + k])) * double(to_input(B[k * 8 + j]));
        exact += p, size += std::abs(p);
      }
      worst = std::max(worst, std::abs(D[i * 8 + j] - exact) / (K * 0x1p-24 * size));
    }
  return worst;
}

float tf32_rounded(float x) { return round_tf32(x); }
float bf16_rounded(float x) { return round_bf16(x); }

// ---- the rungs ----

// While one lives, every matmul runs `rung`; the model's choice comes back after.
struct RungChosen {
  explicit RungChosen(cuda::MatmulRung rung) { cuda::set_matmul_rung(rung); }
  ~RungChosen() { cuda::reset_matmul_rung(); }
  RungChosen(const RungChosen&) = delete;
  RungChosen& operator=(const RungChosen&) = delete;
};

struct MmaRung {
  cuda::MatmulRung rung;
  const char* name;
  float (*round)(float);
  double u;  // unit roundoff of its inputs: half a unit in the last of 11 (TF32) or 8 (BF16) bits
};
const MmaRung kMmaRungs[] = {{cuda::MatmulRung::mma_tf32, "mma_tf32", tf32_rounded, 0x1p-11},
                             {cuda::MatmulRung::mma_bf16, "mma_bf16", bf16_rounded, 0x1p-8}};

std::vector<double> values(const Tensor& t) { return to_dtype(t.to(Device::cpu), DType::f64).to_vector<double>(); }

Tensor rounded(const Tensor& t, float (*round)(float)) {
  std::vector<float> v = t.to_vector<float>();
  for (float& x : v) x = round(x);
  return from_vector(v, t.shape());
}

// Σ_k |a_ik|·|b_kj| for each element of the product, in f64 on the cpu.
std::vector<double> magnitude(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  auto absolute = [](const Tensor& t) {
    std::vector<double> v = values(t);
    for (double& x : v) x = std::abs(x);
    return from_vector(v, t.shape());
  };
  return values(matmul(absolute(a), absolute(b), ta, tb));
}

Tensor on_cuda(cuda::MatmulRung rung, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  RungChosen chosen(rung);
  Tensor c = matmul(a.to(Device::cuda), b.to(Device::cuda), ta, tb);
  REQUIRE(c.is_cuda());
  return c;
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("mma fragment layouts: the positions the PTX ISA's figures give a few lanes") {
  // Read off the ISA's figures (in 32-bit words; a BF16 word is a pair along k): lane 0 holds
  // A(0,0), A(8,0), A(0,4), A(8,4); lane 6 (groupID 1, threadID_in_group 2) A(1,2), A(9,2),
  // A(1,6), A(9,6); B(2,1) and B(6,1); C(1,4), C(1,5), C(9,4), C(9,5). Lane 31: A(7,3) .. A(15,7).
  using namespace kiso::cuda;
  CHECK(std::vector<int>{mma_a_row(0, 0), mma_a_col(0, 0), mma_a_row(0, 1), mma_a_col(0, 1), mma_a_row(0, 2),
                         mma_a_col(0, 2), mma_a_row(0, 3), mma_a_col(0, 3)} == std::vector<int>{0, 0, 8, 0, 0, 4, 8, 4});
  CHECK(std::vector<int>{mma_a_row(6, 0), mma_a_col(6, 0), mma_a_row(6, 1), mma_a_col(6, 1), mma_a_row(6, 2),
                         mma_a_col(6, 2), mma_a_row(6, 3), mma_a_col(6, 3)} == std::vector<int>{1, 2, 9, 2, 1, 6, 9, 6});
  CHECK(std::vector<int>{mma_b_row(6, 0), mma_b_col(6, 0), mma_b_row(6, 1), mma_b_col(6, 1)} ==
        std::vector<int>{2, 1, 6, 1});
  CHECK(std::vector<int>{mma_c_row(6, 0), mma_c_col(6, 0), mma_c_row(6, 1), mma_c_col(6, 1), mma_c_row(6, 2),
                         mma_c_col(6, 2), mma_c_row(6, 3), mma_c_col(6, 3)} == std::vector<int>{1, 4, 1, 5, 9, 4, 9, 5});
  CHECK(std::vector<int>{mma_a_row(31, 0), mma_a_col(31, 0), mma_a_row(31, 3), mma_a_col(31, 3)} ==
        std::vector<int>{7, 3, 15, 7});
}

TEST_CASE("software TF32 and BF16 rounding: to nearest, TF32 ties away from zero, BF16 ties to even") {
  // 1 + 2^-11 is halfway between the TF32 neighbours 1 and 1 + 2^-10: away from zero gives
  // 1 + 2^-10 (and -1 - 2^-10 for its negative); just below halfway goes down.
  CHECK(round_tf32(1.0f + 0x1p-11f) == 1.0f + 0x1p-10f);
  CHECK(round_tf32(-1.0f - 0x1p-11f) == -1.0f - 0x1p-10f);
  CHECK(round_tf32(1.0f + 0x1p-11f - 0x1p-23f) == 1.0f);
  // BF16 keeps 7 fraction bits: 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7 (odd): to 1;
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): to 1 + 2^-6.
  CHECK(round_bf16(1.0f + 0x1p-8f) == 1.0f);
  CHECK(round_bf16(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);
  CHECK(round_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
  CHECK(std::isnan(round_bf16(std::nanf(""))));
  CHECK(std::isinf(round_tf32(INFINITY)));
}

TEST_CASE("mma.sync twin: D = A·B + C of the rounded inputs, fragments laid out as in the PTX ISA") {
  SUBCASE("tf32 m16n8k8") {
    // K·2^-24 relative to |C| + Σ|a·b| (derived in probe_error): ratio <= 1.
    CHECK(probe_error(probe_tf32, 8, tf32_rounded, false) <= 1.0);
    // a1 <-> a2 puts A(g+8, t) at (g, t+4): a different product, far outside the bound.
    CHECK(probe_error(probe_tf32, 8, tf32_rounded, true) > 1000.0);
  }
  SUBCASE("bf16 m16n8k16") {
    CHECK(probe_error(probe_bf16, 16, bf16_rounded, false) <= 1.0);
    CHECK(probe_error(probe_bf16, 16, bf16_rounded, true) > 1000.0);
  }
}

TEST_CASE("tensor-core rungs on pre-rounded inputs: the cpu's product, batched, transposed, ragged") {
  // With inputs already TF32 / BF16, every product a·b is exact in f32 on both sides (at most
  // 11 + 11 or 8 + 8 significand bits), so the rung and the cpu differ only in the order of their
  // f32 sums. The cpu's sum is within K·2^-24·Σ|a·b| of the exact one; the rung's within
  // K·2^-23·Σ|a·b| (the tensor core's adder may truncate instead of rounding: 2^-23, see mma.h).
  // Hence |rung - cpu| <= 3·K·2^-24 · Σ_k |a_ik b_kj|.
  struct Shape3 {
    int64_t batch, M, N, K;
  };
  const Shape3 shapes[] = {{1, 1, 1, 1}, {2, 17, 33, 70}, {3, 70, 17, 33}, {1, 33, 70, 1}, {1, 130, 129, 70}};
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (const MmaRung& r : kMmaRungs)
      for (const Shape3& s : shapes)
        for (bool ta : {false, true})
          for (bool tb : {false, true}) {
            // The shape of 2 x 2 blocks and 3 steps along K costs as much as the rest together (the
            // simulator switches fibers twice an mma): two of its transpose combinations suffice.
            if (s.M > 128 && ta != tb) continue;
            std::string name = r.name;
            CAPTURE(name);
            CAPTURE(s.batch);
            CAPTURE(s.M);
            CAPTURE(s.N);
            CAPTURE(s.K);
            CAPTURE(ta);
            CAPTURE(tb);
            Generator gen{61};
            Tensor a = rounded(randn(ta ? Shape{s.batch, s.K, s.M} : Shape{s.batch, s.M, s.K}, gen), r.round);
            Tensor b = rounded(randn(tb ? Shape{s.batch, s.N, s.K} : Shape{s.batch, s.K, s.N}, gen), r.round);
            std::vector<double> want = values(matmul(a, b, ta, tb));
            std::vector<double> got = values(on_cuda(r.rung, a, b, ta, tb));
            std::vector<double> size = magnitude(a, b, ta, tb);
            REQUIRE(got.size() == want.size());
            double worst = 0;  // the largest |got - want| as a fraction of its bound
            for (size_t i = 0; i < want.size(); ++i)
              worst = std::max(worst, std::abs(got[i] - want[i]) / (3 * double(s.K) * 0x1p-24 * size[i]));
            CHECK(worst <= 1.0);
          }
  });
}

TEST_CASE("tensor-core rungs on f32 inputs: within the TF32 / BF16 rounding bound, and visibly rounded") {
  // Against the exact (f64) product of the unrounded inputs. Rounding a and b (each off by at
  // most u relative, u = 2^-11 for TF32, 2^-8 for BF16) moves a product by at most (2u + u²)·|a·b|;
  // the f32 sums add at most K·2^-23·Σ|a_r·b_r| <= K·2^-23·(1 + u)²·Σ|a·b| (as above). So
  //   |rung - exact| <= ((2u + u²) + K·2^-23·(1 + u)²) · Σ_k |a_ik b_kj|.
  // An exact f32 rung (tiled) stays within K·2^-24·Σ|a·b|; the tensor-core rungs must not (their
  // inputs were rounded: the typical error is ~u/√K of Σ|a·b|, for K = 64 some 60x (TF32) and
  // 500x (BF16) that bound).
  // And since rounding twice is rounding once, the rung on x must equal the rung on round(x)
  // bit for bit: on a GPU this checks that cvt.rna.tf32 / cvt.rn.bf16x2 round as base/bf16.h does.
  int64_t M = 33, N = 40, K = 64;
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Generator gen{62};
    Tensor a = randn({M, K}, gen), b = randn({K, N}, gen);
    std::vector<double> exact = values(matmul(to_dtype(a, DType::f64), to_dtype(b, DType::f64)));
    std::vector<double> size = magnitude(a, b, false, false);
    auto worst_relative = [&](const std::vector<double>& got) {
      double worst = 0;
      for (size_t i = 0; i < exact.size(); ++i) worst = std::max(worst, std::abs(got[i] - exact[i]) / size[i]);
      return worst;
    };
    double exact_bound = double(K) * 0x1p-24;
    double tiled = worst_relative(values(on_cuda(cuda::MatmulRung::tiled, a, b, false, false)));
    CHECK(tiled <= exact_bound);
    for (const MmaRung& r : kMmaRungs) {
      std::string name = r.name;
      CAPTURE(name);
      std::vector<double> got = values(on_cuda(r.rung, a, b, false, false));
      double err = worst_relative(got);
      CAPTURE(err);
      CHECK(err <= 2 * r.u + r.u * r.u + double(K) * 0x1p-23 * (1 + r.u) * (1 + r.u));
      CHECK(err > 4 * exact_bound);
      CHECK(got == values(on_cuda(r.rung, rounded(a, r.round), rounded(b, r.round), false, false)));
    }
  });
}

TEST_CASE("tensor-core rungs and double: the model falls back to tiled, a direct call is an error") {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Generator gen{63};
    Tensor a = randn({3, 4}, gen, DType::f64), b = randn({4, 5}, gen, DType::f64);
    std::vector<double> want = values(matmul(a, b));
    RungChosen chosen(cuda::MatmulRung::mma_bf16);
    std::vector<double> got = values(matmul(a.to(Device::cuda), b.to(Device::cuda)));
    // f64 sums of 4 products: a bf16 rung would be off by ~1e-3, tiled by ~1e-16.
    for (size_t i = 0; i < want.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= 1e-12);
  });
  const double* none = nullptr;
  CHECK_THROWS_WITH_AS(cuda::matmul_rung<cuda::Target::sim>(cuda::MatmulRung::mma_bf16, none, none,
                                                            static_cast<double*>(nullptr), 1, 3, 5, 4, false, false),
                       doctest::Contains("the mma_bf16 rung has no double version"), Error);
}

}  // TEST_SUITE
