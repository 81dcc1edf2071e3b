// cuda/kernels/matmul_ladder.h — what the rungs of the matmul ladder share (matmul_<n>_<rung>.cu):
// the grid (which block computes which tile of which product), reading an operand element in
// either layout, and, for rungs 6 and 7, 128-bit tile loads with their scalar fallback. Included
// by those kernel files only; no kernel here. Like block.h, everything sits in an unnamed
// namespace, so the nvcc and g++ compilations of a file each keep their own copy.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

// `#pragma unroll` as each compiler spells it: a loop over a register block must be unrolled, or
// its array lives in (slow, local) memory instead of registers.
#ifdef __CUDACC__
#define KISO_UNROLL _Pragma("unroll")
#else
#define KISO_UNROLL _Pragma("GCC unroll 16")
#endif

// __launch_bounds__(threads, min_blocks) under nvcc: the register budget that lets min_blocks
// blocks of `threads` share an SM (65536 registers); the simulator has no registers to budget.
#ifdef __CUDACC__
#define KISO_LAUNCH_BOUNDS(threads, min_blocks) __launch_bounds__(threads, min_blocks)
#else
#define KISO_LAUNCH_BOUNDS(threads, min_blocks)
#endif

namespace kiso::cuda {
namespace {

// ---- the grid ----
//
// Every rung gives each block one BM x BN tile of c. grid.x counts the tiles of one product, row
// of tiles after row of tiles (the order the GPU starts blocks in, the same as a (tiles_n, tiles_m)
// grid would give), and grid.y the product. grid.x may reach 2^31 - 1 (a product with more tiles
// than that is refused: its c would hold some 2^34 numbers at the least), but grid.y only 65535:
// a larger batch is launched in chunks.
[[maybe_unused]] constexpr int64_t kMaxGridY = 65535;

// Calls launch(a, b, c, grid) once per chunk of at most 65535 products, with the pointers moved to
// the chunk's first product (a (batch, M, K), b (batch, K, N), c (batch, M, N), either layout).
template <class T, class Launch>
void launch_tiles(const T* a, const T* b, T* c, int64_t batch, int64_t M, int64_t N, int64_t K, int BM, int BN,
                  Launch&& launch) {
  if (batch == 0 || M == 0 || N == 0) return;
  int64_t tiles = ((M + BM - 1) / BM) * ((N + BN - 1) / BN);
  if (tiles > int64_t(INT32_MAX)) matmul_grid_refused(tiles, M, N);
  for (int64_t z0 = 0; z0 < batch; z0 += kMaxGridY) {
    int64_t products = std::min(kMaxGridY, batch - z0);
    launch(a + z0 * M * K, b + z0 * K * N, c + z0 * M * N, dim3(unsigned(tiles), unsigned(products)));
  }
}

// Which product (z) and which tile of its c (first row and column) this block computes. Every
// kernel of the ladder starts with it, moving a, b and c to product z.
struct BlockTile {
  int64_t z, row0, col0;
};
template <int BM, int BN>
__device__ __forceinline__ BlockTile block_tile(int64_t N) {
  int64_t tile = blockIdx.x, tiles_n = (N + BN - 1) / BN;
  return {int64_t(blockIdx.y), tile / tiles_n * BM, tile % tiles_n * BN};
}

// ---- the operands, in either layout ----
//
// The tile loader of rungs 6 and 7 sees both operands the same way, as R rows of K numbers: a is M rows of K (row i of
// op(a)), b is N rows of K (column j of op(b)). Then element (r, k) is p[r·K + k] when k runs
// along memory ("k-contiguous": a untransposed, b transposed) and p[k·R + r] otherwise.
template <class T>
__device__ __forceinline__ T operand_at(const T* p, int64_t r, int64_t k, int64_t R, int64_t K, bool k_contiguous) {
  return k_contiguous ? p[r * K + k] : p[k * R + r];
}

// ---- 128-bit loads and stores (rungs 6 and 7) ----
//
// Vec<T> is 16 bytes, 16-byte aligned: four floats or two doubles, what one ld.global.v4.f32 /
// ld.global.v2.f64 moves. A 128-bit access must be 16-byte aligned: the caller checks that a
// whole operand allows it (vectors_fit) and else takes the scalar path.
template <class T>
struct alignas(16) Vec {
  static constexpr int W = int(16 / sizeof(T));
  T e[W];
};

// One 128-bit load or store at p (16-byte aligned; global or shared memory). nvcc is handed its
// own float4 / double2, which it always moves as one ld/st .v4.f32 / .v2.f64 (a copy of Vec may
// be split into scalar accesses); the simulator moves the 16 bytes as one access too.
template <class T>
__device__ __forceinline__ Vec<T> load_vec(const T* p) {
#ifdef __CUDACC__
  if constexpr (sizeof(T) == 4) {
    float4 v = *reinterpret_cast<const float4*>(p);
    return {{v.x, v.y, v.z, v.w}};
  } else {
    double2 v = *reinterpret_cast<const double2*>(p);
    return {{v.x, v.y}};
  }
#else
  // One 16-byte access, as ld.v4 is: a copy of Vec itself, once its elements are used one by
  // one, is split by g++ into W scalar loads, which the simulator's profile would count as W
  // requests. A GCC vector type is moved whole.
  typedef T Word __attribute__((vector_size(16)));
  Word w = *reinterpret_cast<const Word*>(p);
  Vec<T> x;
  for (int e = 0; e < Vec<T>::W; ++e) x.e[e] = w[e];
  return x;
#endif
}
template <class T>
__device__ __forceinline__ void store_vec(T* p, const Vec<T>& x) {
#ifdef __CUDACC__
  if constexpr (sizeof(T) == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(x.e[0], x.e[1], x.e[2], x.e[3]);
  } else {
    *reinterpret_cast<double2*>(p) = make_double2(x.e[0], x.e[1]);
  }
#else
  typedef T Word __attribute__((vector_size(16)));  // one 16-byte access, as in load_vec
  Word w;
  for (int e = 0; e < Vec<T>::W; ++e) w[e] = x.e[e];
  *reinterpret_cast<Word*>(p) = w;
#endif
}

// Whether every W-aligned run of W numbers along the operand's contiguous axis of length
// `contiguous_len` is one aligned 128-bit word: the base is 16-byte aligned and the length a
// multiple of W (then every row, and every product of a batch, starts aligned too).
template <class T>
bool vectors_fit(const T* p, int64_t contiguous_len) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && contiguous_len % Vec<T>::W == 0;
}

// Whether a, b and c may each be moved in 128-bit words (vectors_fit): decided once per launch,
// so every thread takes the same path.
struct VectorPaths {
  bool a, b, c;
};

// Loads the ROWS x BK tile of an operand (rows r0.., k k0..; zeros outside R x K) into shared
// memory stored k-major, S[k][r] (row pitch ROWS + W: see below), with THREADS threads, each
// moving whole 128-bit words of global memory:
//   - k-contiguous operand: a warp takes 16 rows x 32 bytes (lane l: row l/2, half l%2), whole
//     32-byte sectors when K is a multiple of 8 floats (4 doubles); each vector is written to
//     S transposed, W scalar stores. The pitch ROWS + W puts the two halves' rows 16 banks apart,
//     so the 32 lanes of each store hit 32 different banks.
//   - r-contiguous operand: a warp takes 32 vectors along one k (512 contiguous bytes, 16
//     sectors for floats), stored as they are: one 128-bit store each, conflict-free.
// vector_ok false (unaligned operand, or its contiguous length not a multiple of W): the same
// threads load the same places one number at a time, with bounds checks on each.
template <class T, int ROWS, int BK, int THREADS>
__device__ __forceinline__ void load_tile_kmajor(T (*S)[ROWS + Vec<T>::W], const T* __restrict__ p, int64_t r0,
                                                 int64_t k0, int64_t R, int64_t K, bool k_contiguous,
                                                 bool vector_ok) {
  constexpr int W = Vec<T>::W;
  constexpr int kVectors = ROWS * BK / W;  // 128-bit words in the tile
  static_assert(kVectors % THREADS == 0 && BK % (2 * W) == 0 && ROWS % W == 0, "tile shape");
  int t = int(threadIdx.x);
  KISO_UNROLL
  for (int v0 = 0; v0 < kVectors; v0 += THREADS) {
    int v = v0 + t;
    // (rr, kk): the tile coordinates of the vector's first number; it runs W along k or along r.
    int rr, kk;
    if (k_contiguous) {
      rr = (v / 2) % ROWS, kk = v / (2 * ROWS) * (2 * W) + v % 2 * W;
    } else {
      rr = v % (ROWS / W) * W, kk = v / (ROWS / W);
    }
    int64_t r = r0 + rr, k = k0 + kk;
    Vec<T> x;
    if (vector_ok) {
      // A vector lies wholly inside or wholly outside the operand (its length is a multiple of W).
      if (r < R && k < K) {
        x = load_vec(k_contiguous ? p + r * K + k : p + k * R + r);
      } else {
        KISO_UNROLL
        for (int e = 0; e < W; ++e) x.e[e] = T(0);
      }
    } else {
      KISO_UNROLL
      for (int e = 0; e < W; ++e) {
        int64_t re = k_contiguous ? r : r + e, ke = k_contiguous ? k + e : k;
        x.e[e] = re < R && ke < K ? operand_at(p, re, ke, R, K, k_contiguous) : T(0);
      }
    }
    if (k_contiguous) {
      KISO_UNROLL
      for (int e = 0; e < W; ++e) S[kk + e][rr] = x.e[e];
    } else {
      store_vec(&S[kk][rr], x);
    }
  }
}

// Writes W results of row `row` of c, columns col .. col + W - 1 (col a multiple of W): one
// 128-bit store when c allows it (vector_ok: aligned, N a multiple of W) and all W are inside,
// else one store per number inside c.
template <class T>
__device__ __forceinline__ void store_vector(T* __restrict__ c, const Vec<T>& x, int64_t row, int64_t col,
                                             int64_t M, int64_t N, bool vector_ok) {
  constexpr int W = Vec<T>::W;
  if (row >= M) return;
  if (vector_ok) {
    // N is a multiple of W: all W are inside. Under nvcc __stwb, the plain (write-back) store as
    // an intrinsic: nvcc splits a float4 assignment here into 4 scalar stores.
    if (col < N) {
#ifdef __CUDACC__
      if constexpr (sizeof(T) == 4)
        __stwb(reinterpret_cast<float4*>(c + row * N + col), make_float4(x.e[0], x.e[1], x.e[2], x.e[3]));
      else
        __stwb(reinterpret_cast<double2*>(c + row * N + col), make_double2(x.e[0], x.e[1]));
#else
      store_vec(c + row * N + col, x);
#endif
    }
  } else {
    KISO_UNROLL
    for (int e = 0; e < W; ++e)
      if (col + e < N) c[row * N + col + e] = x.e[e];
  }
}

}  // namespace
}  // namespace kiso::cuda
