// tensor/gemm.cpp — the packed, register-blocked f32 GEMM of gemm.h.
//
// The loop nest, outermost first (the names are BLIS's):
//   jc: columns of C in blocks of NC            B's (KC, NC) block is packed once per (jc, pc)
//    pc: the K axis in blocks of KC             and read from L2/L3 by every row block below
//     ic: rows of C in blocks of MC             A's (MC, KC) block is packed, and stays in L2
//      jr: NR columns (one B micro-panel, KC × NR, which stays in L1)
//       ir: MR rows: the micro-kernel adds A panel (MR × KC) · B panel (KC × NR) into C's tile
// Packing lays a panel out in the order the kernel reads it (for each k: MR numbers of A, NR
// of B), zero-padded to whole panels, so the kernel never branches on an edge; a partial tile of
// C is written through a small buffer. Transposes are handled by the packing's reads.
//
// The micro-kernel holds the MR × NR tile of C in 2·MR vector registers (12 of the 16 ymm of
// AVX2, 12 of the 32 zmm of AVX-512) and per k does 2 loads of B, MR broadcasts of A and 2·MR
// fused multiply-adds: 2·MR·NR FLOPs for MR + 2 loads, enough to keep both FMA units busy.
// Sizes: MR = 6, NR = 2 vectors (16 floats on AVX2, 32 on AVX-512), KC = 256 (a B micro-panel is
// 16–32 KiB: L1), MC = 144 (an A block is 144 KiB: L2), NC = 3072.
#include "tensor/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "base/check.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define KISO_SGEMM 1
#endif

namespace kiso {

#ifdef KISO_SGEMM

namespace {

// ---- one vector register of floats: the only place the instruction set shows ----
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int64_t W = 16;
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline Vec vbroadcast(float x) { return _mm512_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }  // a·b + c, one rounding
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
#else
using Vec = __m256;
constexpr int64_t W = 8;
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline Vec vbroadcast(float x) { return _mm256_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
#endif

constexpr int64_t MR = 6, NR = 2 * W;
constexpr int64_t KC = 256, MC = 144, NC = 3072;  // MC is a multiple of MR, NC of NR

// The micro-kernel: tile C (mr × nr of MR × NR, at c with row stride ldc) = (accumulate ? C : 0)
// + Ap · Bp, with Ap the packed MR × kc panel (a[k·MR + i]) and Bp the packed kc × NR panel
// (b[k·NR + j]).
void micro_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate, int64_t mr,
                  int64_t nr) {
  Vec acc[MR][2];
  for (int64_t i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = vzero();
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    Vec b0 = vload(b), b1 = vload(b + W);
#pragma GCC unroll 6
    for (int64_t i = 0; i < MR; ++i) {
      Vec ai = vbroadcast(a[i]);
      acc[i][0] = vfma(ai, b0, acc[i][0]);
      acc[i][1] = vfma(ai, b1, acc[i][1]);
    }
  }
  if (mr == MR && nr == NR) {  // a whole tile: straight to C
    for (int64_t i = 0; i < MR; ++i) {
      float* ci = c + i * ldc;
      if (accumulate) acc[i][0] = vadd(acc[i][0], vload(ci)), acc[i][1] = vadd(acc[i][1], vload(ci + W));
      vstore(ci, acc[i][0]);
      vstore(ci + W, acc[i][1]);
    }
    return;
  }
  alignas(64) float tile[MR * NR];  // an edge tile: through a buffer, only mr × nr written
  for (int64_t i = 0; i < MR; ++i) vstore(tile + i * NR, acc[i][0]), vstore(tile + i * NR + W, acc[i][1]);
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0.0f) + tile[i * NR + j];
}

// Packs op(A)[i0 : i0+mc, p0 : p0+kc] into MR-row panels: panel r holds, for each k, the MR
// numbers op(A)(i0 + r·MR + i, p0 + k), zeros past row mc. Each source line is read along its
// contiguous axis (k for a plain A, i for a transposed one); the writes land in the panel, which
// is small enough to stay in L1.
void pack_a(const float* A, int64_t lda, bool trans, int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* out) {
  for (int64_t r = 0; r < mc; r += MR, out += MR * kc) {
    int64_t rows = std::min(MR, mc - r);
    if (rows < MR) std::fill_n(out, MR * kc, 0.0f);
    if (!trans) {
      for (int64_t i = 0; i < rows; ++i) {
        const float* src = A + (i0 + r + i) * lda + p0;  // row i0+r+i of A, from column p0
        for (int64_t k = 0; k < kc; ++k) out[k * MR + i] = src[k];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) std::copy_n(A + (p0 + k) * lda + i0 + r, rows, out + k * MR);  // row p0+k of Aᵀ's storage
    }
  }
}

// Packs op(B)[p0 : p0+kc, j0 : j0+nc] into NR-column panels: panel s holds, for each k, the NR
// numbers op(B)(p0 + k, j0 + s·NR + j), zeros past column nc. Read as pack_a reads.
void pack_b(const float* B, int64_t ldb, bool trans, int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* out) {
  for (int64_t s = 0; s < nc; s += NR, out += NR * kc) {
    int64_t cols = std::min(NR, nc - s);
    if (cols < NR) std::fill_n(out, NR * kc, 0.0f);
    if (!trans) {
      for (int64_t k = 0; k < kc; ++k) std::copy_n(B + (p0 + k) * ldb + j0 + s, cols, out + k * NR);
    } else {
      for (int64_t j = 0; j < cols; ++j) {
        const float* src = B + (j0 + s + j) * ldb + p0;  // row j0+s+j of the stored Bᵀ, from column p0
        for (int64_t k = 0; k < kc; ++k) out[k * NR + j] = src[k];
      }
    }
  }
}

// The packing buffers of this thread, 64-byte aligned, kept for the next call.
struct PackBuffers {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> a{static_cast<float*>(std::aligned_alloc(64, MC * KC * sizeof(float)))};
  std::unique_ptr<float[], Free> b{static_cast<float*>(std::aligned_alloc(64, KC * NC * sizeof(float)))};
};

}  // namespace

bool sgemm_available() { return true; }

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
           int64_t ldb, float* C, int64_t ldc) {
  thread_local PackBuffers buffers;
  float* pa = buffers.a.get();
  float* pb = buffers.b.get();
  check(pa != nullptr && pb != nullptr, "matmul", "out of memory allocating the packing buffers ({} bytes)",
        (MC + NC) * KC * sizeof(float));
  if (K == 0) {  // an empty sum: C = 0
    for (int64_t i = 0; i < M; ++i) std::fill_n(C + i * ldc, N, 0.0f);
    return;
  }
  for (int64_t jc = 0; jc < N; jc += NC) {
    int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = std::min(KC, K - pc);
      pack_b(B, ldb, trans_b, pc, jc, kc, nc, pb);
      for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = std::min(MC, M - ic);
        pack_a(A, lda, trans_a, ic, pc, mc, kc, pa);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            micro_kernel(kc, pa + ir * kc, pb + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, pc > 0,
                         std::min(MR, mc - ir), std::min(NR, nc - jr));
      }
    }
  }
}

#else  // no AVX2 + FMA: ops_matmul.cpp uses Eigen

bool sgemm_available() { return false; }
void sgemm(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t) {
  std::abort();  // unreachable: callers check sgemm_available()
}

#endif

}  // namespace kiso
