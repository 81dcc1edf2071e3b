// tests/tensor/test_gemm.cpp — kiso's packed f32 GEMM (tensor/gemm.h) against a plain triple
// loop in double, on shapes that hit every edge of its blocking: sizes that are not multiples
// of the micro-tile (MR = 6 rows, NR = 16 or 32 columns) or of the blocks (KC = 256 along K,
// MC = 144 rows, NC = 3072 columns), all four transpose cases, leading dimensions larger than
// the matrix (a block of a bigger buffer, as the attention reads its heads), and K = 0.
//
// Tolerance: the classical bound for a dot product of length K in float,
// |c - c_exact| <= γ_K Σ_k |a_ik b_kj| with γ_K = K·u/(1 - K·u), u = 2^-24 (Higham, "Accuracy
// and Stability of Numerical Algorithms", §3.1); the double loop is exact to well below it.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "base/philox.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"

using namespace kiso;

namespace {

struct Case {
  int64_t M, N, K;
  bool ta, tb;
  int64_t pad = 0;  // extra columns in every leading dimension
};

void check_case(const Case& c, Generator& gen) {
  int64_t lda = (c.ta ? c.M : c.K) + c.pad, ldb = (c.tb ? c.K : c.N) + c.pad, ldc = c.N + c.pad;
  int64_t a_rows = c.ta ? c.K : c.M, b_rows = c.tb ? c.N : c.K;
  std::vector<float> A = randn({std::max<int64_t>(1, a_rows * lda)}, gen).to_vector<float>();
  std::vector<float> B = randn({std::max<int64_t>(1, b_rows * ldb)}, gen).to_vector<float>();
  std::vector<float> C(size_t(std::max<int64_t>(1, c.M * ldc)), 12345.0f);  // garbage: C is overwritten
  sgemm(c.ta, c.tb, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, C.data(), ldc);
  auto a = [&](int64_t i, int64_t k) { return double(c.ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)]); };
  auto b = [&](int64_t k, int64_t j) { return double(c.tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)]); };
  double u = std::ldexp(1.0, -24), gamma = double(c.K) * u / (1 - double(c.K) * u);
  int64_t bad = 0;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double exact = 0, magnitude = 0;
      for (int64_t k = 0; k < c.K; ++k) exact += a(i, k) * b(k, j), magnitude += std::abs(a(i, k) * b(k, j));
      if (std::abs(double(C[size_t(i * ldc + j)]) - exact) > gamma * magnitude) ++bad;
    }
  CHECK(bad == 0);
  // The padding columns of C are not C: they must be untouched.
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < ldc; ++j) CHECK(C[size_t(i * ldc + j)] == 12345.0f);
}

}  // namespace

TEST_SUITE("tensor") {

TEST_CASE("sgemm equals a double triple loop within the float dot-product bound, at every blocking edge") {
  if (!sgemm_available()) {
    MESSAGE("this build has no AVX2 + FMA kernel: matmul uses Eigen, nothing to check");
    return;
  }
  Generator gen{31};
  std::vector<Case> cases = {
      {1, 1, 1, false, false},     {6, 16, 8, false, false},   {7, 17, 9, false, false},  // one tile, one past it
      {5, 33, 300, false, false},  {145, 40, 257, false, false},                           // K past KC, M past MC
      {13, 3100, 3, false, false},                                                          // N past NC
      {50, 70, 90, true, false},   {50, 70, 90, false, true},  {50, 70, 90, true, true},   // the transposes
      {37, 29, 270, true, true, 5}, {20, 24, 32, false, false, 3},                        // leading dimensions
      {9, 11, 0, false, false},                                                             // K = 0: C = 0
  };
  for (const Case& c : cases) {
    INFO("M ", c.M, " N ", c.N, " K ", c.K, " ta ", c.ta, " tb ", c.tb, " pad ", c.pad);
    check_case(c, gen);
  }
}

}  // TEST_SUITE
