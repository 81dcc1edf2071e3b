// tensor/gemm.h — kiso's own single-threaded f32 matrix multiply for the CPU (internal to
// tensor/ops_matmul.cpp, which splits a product over threads and falls back to Eigen for f64
// and for CPUs without AVX2 + FMA).
//
// What it is: the BLIS / GotoBLAS loop nest (Van Zee & van de Geijn, "BLIS: A Framework for
// Rapidly Instantiating BLAS Functionality", 2015; Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", 2008): blocks of B (KC × NC) and of A (MC × KC) are
// packed into the order the inner kernel reads them, and a micro-kernel keeps an MR × NR tile of
// C in vector registers while it streams K. Transposed operands cost nothing: the packing reads
// them either way. What it is not: a BLAS. One routine, f32, row-major, C overwritten.
//
// Why: `kiso bench --profile` showed Eigen's product at 40–50 GFLOP/s on one core of the 2-core
// AVX2 machine (55–65% of its 78 GFLOP/s peak) on the shapes of a training step, and the
// products are three quarters of the step. docs/benchmarks.md has the figures of both.
#pragma once

#include <cstdint>

namespace kiso {

// True when this build has the vectorised micro-kernel (AVX2 + FMA or AVX-512); otherwise
// sgemm must not be called and the caller uses Eigen.
bool sgemm_available();

// Below this many rows of C the packing of B (all of it, once per call) costs more than the
// product saves: a decode step multiplies one row (M = 1), a matrix-vector product that Eigen's
// GEMV does without packing. Callers use Eigen there.
constexpr int64_t kSgemmMinRows = 8;
inline bool use_sgemm(int64_t M) { return M >= kSgemmMinRows && sgemm_available(); }

// C (M, N) = op(A) · op(B), all row-major. op(A)(i, k) = trans_a ? A[k·lda + i] : A[i·lda + k];
// op(B)(k, j) = trans_b ? B[j·ldb + k] : B[k·ldb + j]; C(i, j) = C[i·ldc + j]. Single-threaded;
// each C element is summed over k in the same order whatever M, N (deterministic).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
           int64_t ldb, float* C, int64_t ldc);

}  // namespace kiso
