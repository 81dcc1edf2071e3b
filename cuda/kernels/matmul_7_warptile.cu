// cuda/kernels/matmul_7_warptile.cu — rung 7 of the matmul ladder (docs/kernels.md): warp tiling,
// the top of the SIMT (CUDA-core, f32/f64-exact) rungs. The block's 128 x 128 tile of c is cut
// into 8 warp tiles of 32 x 64; inside its warp tile each thread owns 2 x 2 sub-blocks of 4 x 4
// results, spread so that the 32 lanes always touch consecutive addresses together.
//
// The step from rung 6: rung 6 gives thread t one contiguous 8 x 8 block, so the 16 thread
// columns of a warp read b's tile 32 bytes apart (2-way bank conflicts) and write c 32 bytes apart
// (half of each sector per store). Here the unit is the warp:
//   warp w        rows  warp_row·32 .. + 31, columns warp_col·64 .. + 63 (warp_row = w / 2,
//                 warp_col = w % 2);
//   lane l        lm = l / 8 (4 lane rows), ln = l % 8 (8 lane columns);
//   its results   rows  warp_row·32 + sm·16 + lm·4 + i, columns warp_col·64 + sn·32 + ln·4 + j,
//                 for the sub-block (sm, sn) in {0,1}² and i, j < 4: 64 results, as in rung 6.
// Per k a lane reads 2 + 2 vectors of 4 numbers; the 8 lane columns read 8 CONSECUTIVE vectors of
// b (128 bytes: one wavefront, no conflict) and, storing c, write 8 consecutive vectors of a row.
// Nothing else changes: the tile loads are rung 6's load_tile_kmajor (matmul_ladder.h), scalar
// fallback included, and BK = 8. (BK = 16 would halve the barriers, but at 128 registers a thread,
// the budget for two blocks an SM, nvcc then spills 104 bytes a thread; at BK = 8 it spills none.)
//
// Predicted (f32, M, N, K multiples of 128, aligned buffers; sectors per warp request; 512-byte
// requests, 16 sectors at the least):
//   load a, b (vector path)  16 sectors, either layout (as rung 6), 1 request per tile per step
//                  of 8 k. Scalar fallback: the same places, one number per request.
//   store c        16 sectors: 4 rows x 128 consecutive bytes (rung 6: 32).
//   shared stores  conflict-free, as rung 6.
//   shared loads   conflict-free: As[k][..]: 4 distinct 16-byte words, 64 consecutive bytes, 1
//                  wavefront; Bs[k][..]: 8 distinct words, 128 consecutive bytes, 1 wavefront
//                  (rung 6: 4 wavefronts for b).
//   barriers       2 per 8 steps of k.
//   global bytes   K·sizeof(T)/64 per element of c, as rungs 5-6.
// f64: the same geometry in doubles (each 4-number run is two double2 words).
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/epilogue.h"
#include "cuda/kernels/matmul_ladder.h"

namespace kiso::cuda {
namespace {

constexpr int BM = 128, BN = 128, BK = 8;  // the block's tile of c, and the step along K
constexpr int WM = 32, WN = 64;             // a warp's tile of c
constexpr int LM = 4, LN = 8;               // the warp's lanes as LM rows x LN columns
constexpr int S = 4;                        // a lane's sub-block is S x S results ...
constexpr int SM = WM / (LM * S), SN = WN / (LN * S);  // ... SM x SN of them (2 x 2)
constexpr int kThreads = (BM / WM) * (BN / WN) * 32;   // 256
static_assert(LM * LN == 32 && SM * LM * S == WM && SN * LN * S == WN, "warp tile shape");

// a (M, K) or (K, M) when trans_a; b (K, N) or (N, K) when trans_b; c (M, N); one product each
// blockIdx.y. The results of thread (warp, lane) are listed in the header. They go out through
// the epilogue `ep` (cuda/kernels/epilogue.h), pre in 128-bit words when vec_pre allows.
// At most 128 registers a thread for floats: two 256-thread blocks an SM.
template <class T>
__global__ void KISO_LAUNCH_BOUNDS(kThreads, sizeof(T) == 4 ? 2 : 1)
    matmul_warptile_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c, int64_t M, int64_t N,
        int64_t K, bool trans_a, bool trans_b, VectorPaths vec, Epilogue<T> ep, bool vec_pre) {
  constexpr int W = Vec<T>::W;  // numbers per 128-bit word
  constexpr int SV = S / W;     // 128-bit words per row of a sub-block
  alignas(16) __shared__ T As[BK][BM + W];  // op(a)'s tile, k-major: As[k][r] = A(row0 + r, k0 + k)
  alignas(16) __shared__ T Bs[BK][BN + W];  // op(b)'s tile, k-major: Bs[k][n] = B(k0 + k, col0 + n)
  auto [z, row0, col0] = block_tile<BM, BN>(N);
  a += z * M * K, b += z * K * N, c += z * M * N;
  ep = epilogue_at(ep, z * M * N);
  int t = int(threadIdx.x), warp = t / 32, lane = t % 32;
  int warp_row = warp / (BN / WN), warp_col = warp % (BN / WN);  // the warp's tile in the block's
  int lm = lane / LN, ln = lane % LN;                              // the lane's place in the warp
  // Sub-block (sm, sn)'s first row and column in the block tile.
  auto sub_row = [&](int sm) { return warp_row * WM + sm * (LM * S) + lm * S; };
  auto sub_col = [&](int sn) { return warp_col * WN + sn * (LN * S) + ln * S; };

  T acc[SM][SN][S][S] = {};
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    // a as M rows of K (k-contiguous unless trans_a); b as N rows of K (k-contiguous when trans_b).
    load_tile_kmajor<T, BM, BK, kThreads>(As, a, row0, k0, M, K, !trans_a, vec.a);
    load_tile_kmajor<T, BN, BK, kThreads>(Bs, b, col0, k0, N, K, trans_b, vec.b);
    __syncthreads();
    KISO_UNROLL
    for (int k = 0; k < BK; ++k) {
      // This k's S numbers of a per sub-block row and S of b per sub-block column, 128 bits at a time.
      Vec<T> a_frag[SM][SV], b_frag[SN][SV];
      KISO_UNROLL
      for (int sm = 0; sm < SM; ++sm)
        KISO_UNROLL
        for (int v = 0; v < SV; ++v) a_frag[sm][v] = load_vec(&As[k][sub_row(sm) + v * W]);
      KISO_UNROLL
      for (int sn = 0; sn < SN; ++sn)
        KISO_UNROLL
        for (int v = 0; v < SV; ++v) b_frag[sn][v] = load_vec(&Bs[k][sub_col(sn) + v * W]);
      KISO_UNROLL
      for (int sm = 0; sm < SM; ++sm)
        KISO_UNROLL
        for (int sn = 0; sn < SN; ++sn)
          KISO_UNROLL
          for (int i = 0; i < S; ++i)
            KISO_UNROLL
            for (int j = 0; j < S; ++j)
              acc[sm][sn][i][j] += a_frag[sm][i / W].e[i % W] * b_frag[sn][j / W].e[j % W];
    }
    __syncthreads();  // before the next step overwrites the tiles
  }
  // The epilogue: the bias of the SN x S columns this thread owns, loaded once (8 scalar loads;
  // a warp's 8 lane columns read 8 numbers 16 bytes apart: 4 sectors a request), then per result
  // h = acc + bias, pre = h, c = gelu(h) (or c = h). Without an epilogue c = acc, as before.
  T bias[SN][S];
  KISO_UNROLL
  for (int sn = 0; sn < SN; ++sn)
    KISO_UNROLL
    for (int j = 0; j < S; ++j) bias[sn][j] = epilogue_bias(ep, col0 + sub_col(sn) + j, N);
  KISO_UNROLL
  for (int sm = 0; sm < SM; ++sm)
    KISO_UNROLL
    for (int sn = 0; sn < SN; ++sn)
      KISO_UNROLL
      for (int i = 0; i < S; ++i)
        KISO_UNROLL
        for (int v = 0; v < SV; ++v) {
          Vec<T> h, x;
          KISO_UNROLL
          for (int e = 0; e < W; ++e) h.e[e] = epilogue_pre(ep, acc[sm][sn][i][v * W + e], bias[sn][v * W + e]);
          int64_t row = row0 + sub_row(sm) + i, col = col0 + sub_col(sn) + v * W;
          if (ep.gelu) store_vector(ep.pre, h, row, col, M, N, vec_pre);
          KISO_UNROLL
          for (int e = 0; e < W; ++e) x.e[e] = epilogue_out(ep, h.e[e]);
          store_vector(c, x, row, col, M, N, vec.c);
        }
}

}  // namespace

template <Target D, class T>
void matmul_warptile(KISO_MATMUL_ARGS, const Epilogue<T>& ep) {
  VectorPaths vec{vectors_fit(a, trans_a ? M : K), vectors_fit(b, trans_b ? K : N), vectors_fit(c, N)};
  bool vec_pre = ep.pre != nullptr && vectors_fit<T>(ep.pre, N);
  T* const c_base = c;
  launch_tiles(a, b, c, batch, M, N, K, BM, BN, [&](const T* a, const T* b, T* c, dim3 grid) {
    KISO_LAUNCH(matmul_warptile_kernel<T>, grid, dim3(kThreads), 0, a, b, c, M, N, K, trans_a, trans_b, vec,
                epilogue_at(ep, c - c_base), vec_pre);
  });
}
template decltype(matmul_warptile<kTarget, float>) matmul_warptile<kTarget, float>;
template decltype(matmul_warptile<kTarget, double>) matmul_warptile<kTarget, double>;

}  // namespace kiso::cuda
