// cuda/kernels/attention.cu — causal multi-head self-attention without the T×T matrix:
// FlashAttention-2's forward and its deterministic backward, f32 and f64, SIMT. Compiled by nvcc
// for the GPU and by g++ for the simulator (see cuda/kernels.h). The oracle is the materialised
// composite of tensor/ops_attention.cpp (split heads, matmul, scale, causal softmax, dropout,
// matmul: the (B·NH, T, T) probabilities in global memory), which stays selectable
// (KISO_ATTENTION=materialised); docs/attention.md explains the algorithm step by step.
//
// Reference: Tri Dao, "FlashAttention-2: Faster Attention with Better Parallelism and Work
// Partitioning" (2023), Algorithm 1 (forward) and Algorithm 2 (backward); the symbols below are
// the paper's (m running max, ℓ running sum, L = m + log ℓ the logsumexp, D = rowsum(dO ∘ O)).
//
// Shapes: qkv (B, T, 3C) is the c_attn output, [Q | K | V] along the last axis, C = NH·HS; head h
// of batch b reads its (T, HS) blocks in place, rows 3C numbers apart. y, dy (B, T, C): the head
// writes its HS columns. lse, D: (B·NH, T). dqkv (B, T, 3C).
//
// Work split (FA-2): a block of kRows = 64 threads per (tile of 64 rows, b·NH + h); each thread
// owns one row — a query in the forward and in dQ, a key in dK/dV — and keeps that row's vectors
// in registers (q, the output accumulator, ...: kMaxHS numbers each). The other side streams
// through shared memory kTile rows at a time (32 for f32, 16 for f64), two (kTile, HS) tiles.
//
// Causal blocks: query i sees keys 0..i. A key tile whose first key is after the block's last
// query is never loaded (about half of the T²/2 tile pairs at large T); on the diagonal tile
// each thread stops at its own i.
//
// Dropout: the composite calls dropout() on the whole (B·NH, T, T) probabilities, so element
// (bh, i, j) is kept iff draw offset + (bh·T + i)·T + j of Philox(seed, stream) is >= p, with
// draw d = lane d % 4 of philox_block(d / 4) — base/philox.h, the very function the CPU and
// cuda/kernels/dropout.cu call. Here each (i, j) the kernel visits computes its own draw, so the
// masks are the CPU's bit for bit. The normaliser ℓ sums the undropped probabilities (softmax
// first, then dropout), the output accumulates P̃ = P · keep / (1 - p).
//
// Rounding order kept from the composite: a score is the f32 (f64) dot product, then
// mul(S, 1/√HS) computed in double and rounded (unary.cu's mul_scalar); dS likewise. Sums and the
// statistics m, ℓ, L, D stay in T. bf16 precision (tensor/precision.h; float only): every
// product reads bf16-rounded inputs, as the CPU path does — Q, K, V and dY on load, P̃ before
// P̃·V and P̃ᵀ·dY, dS before dS·K and dSᵀ·Q — with f32 sums: the maths of mma_bf16, on SIMT.
//
// Shared memory per block: 2 · kTile · (HS + 1) · sizeof(T) (+ 2 · kTile · sizeof(T) for L, D in
// dK/dV) ≈ 256 · HS bytes: 16.3 KiB at GPT-1's HS 64, 32.3 KiB at the largest served HS (128), under
// the 48 KiB a block gets without opting in. On an sm_90 SM (228 KiB shared, 2048 threads, 32
// blocks) 16.3 KiB and 64 threads allow 13 or 14 blocks, ~28 of 64 warps; the simulator's profile
// counts 13 blocks, occupancy 0.41. Registers lower it on a GPU (ptxas -v, sm_90, f32, HS 64:
// forward 167 registers, no spills, so 6 blocks = 12 warps an SM, 19%; dQ 247, no spills; dK/dV
// 255 and 128 bytes spilled, its four HS-long arrays being too many; at HS 128 every kernel
// spills). Fewer registers per row is the next rung's reason for tensor-core fragments, where a
// warp shares the tile instead of each thread holding whole rows.
//
// Predicted global traffic, per head (f32, R = kRows = 64, T = nq·R):
//   forward:  Q, y once (2·T·HS·4), lse (T·4), and K, V once per query block that sees them:
//             Σ_qb (qb + 1)·R rows · 2·HS·4 = 4·HS·T·(nq + 1) bytes. For T <= 64 (one query
//             block) everything is read or written exactly once: 4·HS·T·4 + 4·T bytes, linear
//             in T. The materialised composite writes and reads the (T, T) scores several times
//             (matmul out, scale in/out, softmax in/out, dropout in/out, matmul in) plus the
//             permute copies: ~40·T² bytes (measured below: 50·T² forward, 76·T² backward).
//   backward: dK/dV re-reads Q, dY, L, D per key block, dQ re-reads K, V per query block: the
//             same T²·HS/R growth, never a (T, T) array.
//   Measured (simulator, tests/cuda/test_flash_attention.cpp asserts the forward's formula;
//   one head, T 512, HS 64, p 0.1): forward 1,443,840 bytes in 1 launch (the formula exactly)
//   vs the composite's 13,139,968 in 12; backward 3,577,856 in 3 vs 20,054,016 in 20.
//   Memory saved: the composite keeps att and P̃, 2·T²·4 bytes per head per layer (2 MiB at
//   T 512); flash keeps lse, T·4 (2 KiB). For gpt1 (12 layers, 12 heads) at T 512: 288 MiB vs
//   288 KiB per sequence of the batch.
//
// What it is not: the tensor-core version (mma.h fragments for QKᵀ and P̃V are the next rung),
// nor split-K over keys for long T with few heads, nor a KV-cache path (attention_cached stays
// composite). HS up to 128 (the register arrays are sized by kMaxHS = 32, 64 or 128, the smallest
// that holds HS).
#include <cmath>

#include "base/bf16.h"
#include "base/philox.h"
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

// `#pragma unroll` as each compiler spells it (as matmul_ladder.h does): a loop that indexes a
// register array must be unrolled over a compile-time bound, or nvcc puts the array in (slow,
// local) memory — ptxas -v showed every array here in the stack frame before the loops below
// ran to kMaxHS with an `if (d < HS)` inside.
#ifndef KISO_UNROLL
#ifdef __CUDACC__
#define KISO_UNROLL _Pragma("unroll")
#else
#define KISO_UNROLL _Pragma("GCC unroll 16")
#endif
#endif

namespace kiso::cuda {
namespace {

constexpr int kRows = 64;  // threads per block, one row each
template <class T> constexpr int kTile = 128 / int(sizeof(T));  // streamed rows: 32 f32, 16 f64

// The sizes every kernel reads, and where head bh's rows live.
struct Dims {
  int64_t B, Tn, C, NH;
  int HS;
  double scale;  // 1/√HS
  __device__ int64_t qkv_row(int64_t bh, int64_t t) const { return ((bh / NH) * Tn + t) * 3 * C + (bh % NH) * HS; }
  __device__ int64_t y_row(int64_t bh, int64_t t) const { return ((bh / NH) * Tn + t) * C + (bh % NH) * HS; }
};

// The dropout of element (bh, i, j) of the (B·NH, T, T) probabilities: keep iff its draw >= p.
template <class T> struct Dropout {
  float p;        // 0: no dropout
  T scale;        // 1 / (1 - p), rounded to T as dropout() rounds it
  uint64_t seed, stream, offset;
  __device__ bool keep(int64_t bh, int64_t i, int64_t j, int64_t Tn) const {
    if (p == 0) return true;
    uint64_t d = offset + uint64_t((bh * Tn + i) * Tn + j);
    return uniform_from_bits(philox_block(seed, stream, d / 4)[d % 4]) >= p;
  }
};

// A product's input: bf16-rounded in bf16 precision (float only), else itself.
template <class T> __device__ T input(T x, bool bf16) {
  if constexpr (sizeof(T) == 4) return bf16 ? ::kiso::round_bf16(x) : x;
  return x;
}
// mul(x, 1/√HS) as unary.cu's mul_scalar computes it: in double, then rounded to T.
template <class T> __device__ T scaled(T x, double scale) { return T(double(x) * scale); }

// Shared tiles are (kTile, HS) with rows kPitch(HS) = HS + 1 numbers apart: when the lanes of a
// warp each read their own row at the same column (staging rows into registers, below), the +1
// puts them in 32 different banks instead of one; the main loops read a tile row by row, all
// lanes the same element (a broadcast), which any pitch serves in one wavefront.
__device__ inline int pitch(int HS) { return HS + 1; }

// tile (kTile, HS) = rows r0 .. r0 + kTile - 1 of a (T, HS) block (`src` its row 0, rows `ld`
// apart), bf16-rounded when asked; rows past T are zeros (never used, but no garbage either).
// All threads of the block take part; consecutive threads read consecutive columns (coalesced).
template <class T>
__device__ void load_tile(T* tile, const T* src, int64_t ld, int64_t r0, int64_t Tn, int HS, bool bf16) {
  for (int e = threadIdx.x; e < kTile<T> * HS; e += kRows) {
    int r = e / HS, d = e % HS;
    tile[r * pitch(HS) + d] = r0 + r < Tn ? input(src[(r0 + r) * ld + d], bf16) : T(0);
  }
}

// Thread t's own row r0 + t of a (T, HS) block into its registers `reg` (HS,), through the shared
// `stage` tile, kTile rows at a time, so that global memory is read along rows (coalesced), not
// down a column (a 32-sector request per column). Rows past T read as zeros.
template <class T, int kMaxHS>
__device__ void read_own_row(T (&reg)[kMaxHS], T* stage, const T* src, int64_t ld, int64_t r0, int64_t Tn, int HS,
                             bool bf16) {
  for (int c = 0; c < kRows; c += kTile<T>) {
    __syncthreads();  // the stage is free
    load_tile(stage, src, ld, r0 + c, Tn, HS, bf16);
    __syncthreads();
    int r = int(threadIdx.x) - c;
    if (r >= 0 && r < kTile<T>)
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) reg[d] = stage[r * pitch(HS) + d];
  }
}

// The reverse: thread t's registers `reg` (HS,) into row r0 + t of a (T, HS) block (rows `ld`
// apart), rows past T not written.
template <class T, int kMaxHS>
__device__ void write_own_row(const T (&reg)[kMaxHS], T* stage, T* dst, int64_t ld, int64_t r0, int64_t Tn, int HS) {
  for (int c = 0; c < kRows; c += kTile<T>) {
    __syncthreads();
    int r = int(threadIdx.x) - c;
    if (r >= 0 && r < kTile<T>)
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) stage[r * pitch(HS) + d] = reg[d];
    __syncthreads();
    for (int e = threadIdx.x; e < kTile<T> * HS; e += kRows) {
      int rr = e / HS, d = e % HS;
      if (r0 + c + rr < Tn) dst[(r0 + c + rr) * ld + d] = stage[rr * pitch(HS) + d];
    }
  }
}

// ---- forward (FA-2 Algorithm 1) ----
// Block (qb, bh): queries i = qb·64 + threadIdx.x of head bh. For each key tile K_j, V_j (kTile, HS):
//   S_i = Q_i K_jᵀ · 1/√HS              (visible keys only)
//   m_new = max(m, rowmax(S_i));  α = exp(m - m_new)
//   ℓ = α·ℓ + Σ exp(S_i - m_new);  O_i = α·O_i + P̃_i V_j with P̃ = exp(S_i - m_new)·keep/(1-p)
// then y_i = O_i / ℓ and L_i = m + log ℓ.
template <class T, int kMaxHS>
__global__ void attention_forward_kernel(const T* qkv, T* y, T* lse, Dims g, Dropout<T> drop, bool bf16) {
  KISO_DYNAMIC_SHARED(unsigned char, smem);
  const int HS = g.HS, P = pitch(HS);
  T* Ks = reinterpret_cast<T*>(smem);  // (kTile, HS), rows P apart
  T* Vs = Ks + kTile<T> * P;           // (kTile, HS)
  int64_t bh = blockIdx.y, q0 = int64_t(blockIdx.x) * kRows, i = q0 + threadIdx.x;
  bool live = i < g.Tn;  // rows past T only help move tiles
  const T* Q = qkv + g.qkv_row(bh, 0);  // (T, HS) blocks of qkv, rows ld apart
  const T *K = Q + g.C, *V = Q + 2 * g.C;
  int64_t ld = 3 * g.C;

  T q[kMaxHS], o[kMaxHS];  // Q_i (HS,), O_i (HS,)
  read_own_row(q, Ks, Q, ld, q0, g.Tn, HS, bf16);
  KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) o[d] = 0;
  T m = -INFINITY, l = 0;  // running max and sum of row i
  int64_t last = (q0 + kRows < g.Tn ? q0 + kRows : g.Tn) - 1;  // the block's last query
  for (int64_t k0 = 0; k0 <= last; k0 += kTile<T>) {  // key tiles after `last` are all future
    __syncthreads();  // the previous tiles are consumed
    load_tile(Ks, K, ld, k0, g.Tn, HS, bf16);
    load_tile(Vs, V, ld, k0, g.Tn, HS, bf16);
    __syncthreads();
    if (!live || k0 > i) continue;
    int n = int(i - k0 + 1 < kTile<T> ? i - k0 + 1 : kTile<T>);  // keys of the tile row i sees
    // pass 1: the scores and their max
    T s[kTile<T>];  // local memory (indexed at run time): a tile's scores, read back once
    T m_new = m;
    for (int jj = 0; jj < n; ++jj) {
      T dot = 0;
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) dot += q[d] * Ks[jj * P + d];
      s[jj] = scaled(dot, g.scale);
      m_new = s[jj] > m_new ? s[jj] : m_new;
    }
    // pass 2: rescale what was summed under the old max (α = 0 at the first tile), add this tile
    T alpha = std::exp(m - m_new);
    l *= alpha;
    KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) o[d] *= alpha;
    for (int jj = 0; jj < n; ++jj) {
      T p = std::exp(s[jj] - m_new);
      l += p;  // the softmax's sum: undropped
      if (!drop.keep(bh, i, k0 + jj, g.Tn)) continue;
      T pt = input(drop.p > 0 ? p * drop.scale : p, bf16);  // P̃_ij as P̃V reads it
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) o[d] += pt * Vs[jj * P + d];
    }
    m = m_new;
  }
  if (live) {
    KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) o[d] /= l;
    lse[bh * g.Tn + i] = m + std::log(l);
  }
  write_own_row(o, Ks, y + g.y_row(bh, 0), g.C, q0, g.Tn, HS);
}

// ---- backward (FA-2 Algorithm 2, deterministic: no atomics) ----
// With P_ij = exp(S_ij - L_i) recomputed from the saved L, P̃ = P·keep/(1-p):
//   dP̃_ij = dY_i · V_j;  dP_ij = dP̃_ij·keep/(1-p);  D_i = Σ_j P_ij dP_ij = dY_i · Y_i
//   dS_ij = P_ij (dP_ij - D_i) · 1/√HS
//   dV_j = Σ_i P̃_ij dY_i;  dK_j = Σ_i dS_ij Q_i;  dQ_i = Σ_j dS_ij K_j
// dK, dV: one kernel, a thread per key j summing over queries; dQ: another, a thread per query
// summing over keys. Each output element is written once by one thread, its sum in a fixed order.
// (D_i = dY_i · Y_i because Y_i = Σ_j P̃_ij V_j, so Σ_j P̃_ij dP̃_ij = dY_i · Σ_j P̃_ij V_j: one
// HS-long dot product per row instead of a pass over the T keys.)

// D (B·NH, T): a warp per row. Lanes take columns lane, lane + 32, ... (a row of dy and of y is
// read along, coalesced; a thread per row would read down 32 rows at once, 32 sectors per
// request), then a shuffle tree of fixed shape adds the 32 partial sums: deterministic. In
// double, as softmax_backward's Σ dy·y.
constexpr int kDotRowsPerBlock = int(kBlockThreads) / 32;
template <class T> __global__ void attention_backward_dot_kernel(const T* dy, const T* y, T* D, Dims g, bool bf16) {
  int64_t r = int64_t(blockIdx.x) * kDotRowsPerBlock + threadIdx.x / 32;
  int lane = int(threadIdx.x % 32);
  if (r >= g.B * g.NH * g.Tn) return;  // the whole warp: r is the warp's
  int64_t bh = r / g.Tn, i = r % g.Tn;
  const T *dyi = dy + g.y_row(bh, i), *yi = y + g.y_row(bh, i);
  double dot = 0;
  for (int d = lane; d < g.HS; d += 32) dot += double(input(dyi[d], bf16)) * double(yi[d]);
  for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
  if (lane == 0) D[r] = T(dot);
}

// One (i, j) pair of the backward, shared by both kernels: P̃_ij and dS_ij (each as a product
// reads it), from q_i·k_j, dy_i·v_j and row i's L, D.
template <class T> struct Pair {
  T pt, ds;
};
template <class T>
__device__ Pair<T> backward_pair(T qk, T dyv, T L, T Di, bool kept, const Dims& g, const Dropout<T>& drop, bool bf16) {
  T P = std::exp(scaled(qk, g.scale) - L);  // the forward's probability, recomputed
  T scale = drop.p > 0 ? drop.scale : T(1);
  T pt = kept ? P * scale : T(0);     // P̃_ij
  T dP = kept ? dyv * scale : T(0);   // dP_ij = dropout(dP̃)_ij
  T ds = scaled(P * (dP - Di), g.scale);
  return {input(pt, bf16), input(ds, bf16)};
}

// Block (kb, bh): keys j = kb·64 + threadIdx.x; query tiles stream through shared memory from
// the first one holding a query >= the block's first key (earlier queries see none of its keys).
template <class T, int kMaxHS>
__global__ void attention_backward_dkdv_kernel(const T* dy, const T* qkv, const T* lse, const T* D, T* dqkv, Dims g,
                                               Dropout<T> drop, bool bf16) {
  KISO_DYNAMIC_SHARED(unsigned char, smem);
  const int HS = g.HS, P = pitch(HS);
  T* Qs = reinterpret_cast<T*>(smem);  // (kTile, HS), rows P apart
  T* dYs = Qs + kTile<T> * P;          // (kTile, HS)
  T* Ls = dYs + kTile<T> * P;          // (kTile,)
  T* Ds = Ls + kTile<T>;               // (kTile,)
  int64_t bh = blockIdx.y, k0 = int64_t(blockIdx.x) * kRows, j = k0 + threadIdx.x;
  bool live = j < g.Tn;
  const T* Q = qkv + g.qkv_row(bh, 0);
  const T *K = Q + g.C, *V = Q + 2 * g.C, *dY = dy + g.y_row(bh, 0);
  int64_t ld = 3 * g.C;

  T k[kMaxHS], v[kMaxHS], dk[kMaxHS], dv[kMaxHS];  // K_j, V_j, dK_j, dV_j (HS,)
  read_own_row(k, Qs, K, ld, k0, g.Tn, HS, bf16);
  read_own_row(v, Qs, V, ld, k0, g.Tn, HS, bf16);
  KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) dk[d] = dv[d] = 0;
  for (int64_t i0 = k0 / kTile<T> * kTile<T>; i0 < g.Tn; i0 += kTile<T>) {
    __syncthreads();
    load_tile(Qs, Q, ld, i0, g.Tn, HS, bf16);
    load_tile(dYs, dY, g.C, i0, g.Tn, HS, bf16);
    for (int r = threadIdx.x; r < kTile<T>; r += kRows) {
      Ls[r] = i0 + r < g.Tn ? lse[bh * g.Tn + i0 + r] : T(0);
      Ds[r] = i0 + r < g.Tn ? D[bh * g.Tn + i0 + r] : T(0);
    }
    __syncthreads();
    if (!live) continue;
    for (int ii = 0; ii < kTile<T> && i0 + ii < g.Tn; ++ii) {
      int64_t i = i0 + ii;
      if (i < j) continue;  // query i does not see key j
      const T *qi = Qs + ii * P, *dyi = dYs + ii * P;
      T qk = 0, dyv = 0;
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) {
        if (d >= HS) break;
        qk += qi[d] * k[d];
        dyv += dyi[d] * v[d];
      }
      Pair<T> pr = backward_pair(qk, dyv, Ls[ii], Ds[ii], drop.keep(bh, i, j, g.Tn), g, drop, bf16);
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) {
        if (d >= HS) break;
        dv[d] += pr.pt * dyi[d];  // dV_j += P̃_ij dY_i
        dk[d] += pr.ds * qi[d];   // dK_j += dS_ij Q_i
      }
    }
  }
  T* dQKV = dqkv + g.qkv_row(bh, 0);
  write_own_row(dk, Qs, dQKV + g.C, ld, k0, g.Tn, HS);
  write_own_row(dv, Qs, dQKV + 2 * g.C, ld, k0, g.Tn, HS);
}

// Block (qb, bh): queries i = qb·64 + threadIdx.x; key tiles stream as in the forward.
template <class T, int kMaxHS>
__global__ void attention_backward_dq_kernel(const T* dy, const T* qkv, const T* lse, const T* D, T* dqkv, Dims g,
                                             Dropout<T> drop, bool bf16) {
  KISO_DYNAMIC_SHARED(unsigned char, smem);
  const int HS = g.HS, P = pitch(HS);
  T* Ks = reinterpret_cast<T*>(smem);  // (kTile, HS), rows P apart
  T* Vs = Ks + kTile<T> * P;           // (kTile, HS)
  int64_t bh = blockIdx.y, q0 = int64_t(blockIdx.x) * kRows, i = q0 + threadIdx.x;
  bool live = i < g.Tn;
  const T* Q = qkv + g.qkv_row(bh, 0);
  const T *K = Q + g.C, *V = Q + 2 * g.C, *dY = dy + g.y_row(bh, 0);
  int64_t ld = 3 * g.C;

  T q[kMaxHS], dyi[kMaxHS], dq[kMaxHS];  // Q_i, dY_i, dQ_i (HS,)
  read_own_row(q, Ks, Q, ld, q0, g.Tn, HS, bf16);
  read_own_row(dyi, Ks, dY, g.C, q0, g.Tn, HS, bf16);
  KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) dq[d] = 0;
  T L = live ? lse[bh * g.Tn + i] : T(0), Di = live ? D[bh * g.Tn + i] : T(0);
  int64_t last = (q0 + kRows < g.Tn ? q0 + kRows : g.Tn) - 1;
  for (int64_t k0 = 0; k0 <= last; k0 += kTile<T>) {
    __syncthreads();
    load_tile(Ks, K, ld, k0, g.Tn, HS, bf16);
    load_tile(Vs, V, ld, k0, g.Tn, HS, bf16);
    __syncthreads();
    if (!live) continue;
    for (int jj = 0; jj < kTile<T> && k0 + jj <= i; ++jj) {
      const T *kj = Ks + jj * P, *vj = Vs + jj * P;
      T qk = 0, dyv = 0;
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) {
        if (d >= HS) break;
        qk += q[d] * kj[d];
        dyv += dyi[d] * vj[d];
      }
      Pair<T> pr = backward_pair(qk, dyv, L, Di, drop.keep(bh, i, k0 + jj, g.Tn), g, drop, bf16);
      KISO_UNROLL for (int d = 0; d < kMaxHS; ++d) if (d < HS) dq[d] += pr.ds * kj[d];  // dQ_i += dS_ij K_j
    }
  }
  write_own_row(dq, Ks, dqkv + g.qkv_row(bh, 0), ld, q0, g.Tn, HS);
}

template <class T> Dims dims_of(const AttentionShape& s) {
  return {s.B, s.T, s.NH * s.HS, s.NH, int(s.HS), 1.0 / std::sqrt(double(s.HS))};
}
template <class T> Dropout<T> dropout_of(const AttentionDropout& a) {
  return {float(a.p), T(1.0 / (1.0 - a.p)), a.seed, a.stream, a.offset};
}
// Blocks (T / 64 rounded up, B·NH) and the dynamic shared bytes of `tiles` (kTile, HS) tiles
// plus `rows` kTile-long vectors.
dim3 grid_of(const AttentionShape& s) { return dim3(unsigned((s.T + kRows - 1) / kRows), unsigned(s.B * s.NH)); }
template <class T> size_t shared_of(const AttentionShape& s, int tiles, int rows) {
  return size_t(kTile<T>) * size_t(tiles * (s.HS + 1) + rows) * sizeof(T);
}

}  // namespace

// The register arrays are sized by the smallest of 32, 64, 128 that holds HS (checked by the op).
#define KISO_ATTENTION_BY_HS(kernel, T, grid, shared, ...)                                 \
  do {                                                                                     \
    if (s.HS <= 32) KISO_LAUNCH((kernel<T, 32>), grid, dim3(kRows), shared, __VA_ARGS__);  \
    else if (s.HS <= 64) KISO_LAUNCH((kernel<T, 64>), grid, dim3(kRows), shared, __VA_ARGS__); \
    else KISO_LAUNCH((kernel<T, 128>), grid, dim3(kRows), shared, __VA_ARGS__);            \
  } while (0)

template <Target D, class T>
void attention_flash_forward(const T* qkv, T* y, T* lse, const AttentionShape& s, const AttentionDropout& drop,
                             bool bf16) {
  if (s.B * s.NH * s.T == 0) return;
  KISO_ATTENTION_BY_HS(attention_forward_kernel, T, grid_of(s), shared_of<T>(s, 2, 0), qkv, y, lse, dims_of<T>(s),
                       dropout_of<T>(drop), bf16);
}
template decltype(attention_flash_forward<kTarget, float>) attention_flash_forward<kTarget, float>;
template decltype(attention_flash_forward<kTarget, double>) attention_flash_forward<kTarget, double>;

template <Target D, class T>
void attention_flash_backward(const T* dy, const T* qkv, const T* y, const T* lse, T* D_scratch, T* dqkv,
                              const AttentionShape& s, const AttentionDropout& drop, bool bf16) {
  if (s.B * s.NH * s.T == 0) return;
  Dims g = dims_of<T>(s);
  Dropout<T> dr = dropout_of<T>(drop);
  int64_t rows = s.B * s.NH * s.T;
  KISO_LAUNCH(attention_backward_dot_kernel<T>, dim3(unsigned((rows + kDotRowsPerBlock - 1) / kDotRowsPerBlock)),
              dim3(kBlockThreads), 0, dy, y, D_scratch, g, bf16);
  KISO_ATTENTION_BY_HS(attention_backward_dkdv_kernel, T, grid_of(s), shared_of<T>(s, 2, 2), dy, qkv, lse, D_scratch,
                       dqkv, g, dr, bf16);
  KISO_ATTENTION_BY_HS(attention_backward_dq_kernel, T, grid_of(s), shared_of<T>(s, 2, 0), dy, qkv, lse, D_scratch,
                       dqkv, g, dr, bf16);
}
template decltype(attention_flash_backward<kTarget, float>) attention_flash_backward<kTarget, float>;
template decltype(attention_flash_backward<kTarget, double>) attention_flash_backward<kTarget, double>;

}  // namespace kiso::cuda
