// cuda/kernels/matmul_5_blocktile_2d.cu — rung 5 of the matmul ladder (docs/kernels.md): 2-D
// register blocking. Each thread computes an 8 x 8 block of c: per k it reads 8 numbers of a and 8
// of b into registers and does their 64 products (an outer product).
//
// The step from rung 4: a column of TM results reuses each number of b TM times, but each number
// of a only once. With a TM x TN block a thread loads TM + TN numbers per k for TM·TN multiply-adds:
// 16 shared loads for 64 (rung 4: 9 for 8). A block of 256 threads now owns a 128 x 128 tile of c,
// so each number it loads from global memory serves 128 results (rung 4: 64); per step of BK = 8
// each thread loads 4 numbers of each tile.
//
// Predicted (f32, M, N, K multiples of 128, aligned buffers; thread t has tcol = t % 16, trow =
// t / 16, so a warp is 16 thread columns x 2 thread rows; sectors per warp request):
//   load a, b  4 sectors each, either layout (as rung 4).
//   store c    32 sectors: a store instruction writes c[i][col0 + tcol·8 + n] for 16 tcol (32 bytes
//              apart) and 2 rows, each lane's 4 bytes in a sector of its own (rung 4: 4 sectors).
//   shared stores   as rung 4: conflict-free untransposed; trans_a, trans_b: 8-way.
//   shared loads    As[trow·8 + m][k]: the warp's 2 thread rows read 2 words 64 apart, one bank:
//                   2-way conflict. Bs[k][tcol·8 + n]: 16 words 8 apart, 4 in each of 4 banks:
//                   4-way conflict. (Rung 6 stores a transposed; rung 7 rearranges the threads.)
//   barriers        2 per 8 steps of k.
//   global bytes    K·sizeof(T)/64 per element of c (rung 4: /32); M·N/(64·(M + N)) times the
//                   compulsory reads (n/128 for n x n x n).
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/matmul_ladder.h"

namespace kiso::cuda {
namespace {

constexpr int BM = 128, BN = 128, BK = 8;  // the block's tile of c, and the step along K
constexpr int TM = 8, TN = 8;              // the thread's block of results
constexpr int kThreads = BM * BN / (TM * TN);  // 256
constexpr int kLoads = BM * BK / kThreads;     // numbers of each tile a thread loads per step: 4
static_assert(BM * BK == BK * BN, "both tiles take the same number of loads");

// a (M, K) or (K, M) when trans_a; b (K, N) or (N, K) when trans_b; c (M, N); one product each
// blockIdx.y. Thread t computes c[row0 + trow·TM + m][col0 + tcol·TN + n], m < TM, n < TN.
template <class T>
__global__ void matmul_blocktile_2d_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                                           int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b) {
  __shared__ T As[BM][BK];  // the tile of op(a): rows row0.., k k0..
  __shared__ T Bs[BK][BN];  // the tile of op(b): k k0.., columns col0..
  auto [z, row0, col0] = block_tile<BM, BN>(N);
  a += z * M * K, b += z * K * N, c += z * M * N;
  int t = int(threadIdx.x);
  int tcol = t % (BN / TN), trow = t / (BN / TN);

  T acc[TM][TN] = {};
  T a_frag[TM], b_frag[TN];  // this k's column of the thread's rows of a, row of its columns of b
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    // Load: number s = t + l·256 of each tile, consecutive lanes along the contiguous axis.
    KISO_UNROLL
    for (int l = 0; l < kLoads; ++l) {
      int s = t + l * kThreads;
      int a_r = trans_a ? s % BM : s / BK, a_k = trans_a ? s / BM : s % BK;
      int b_k = trans_b ? s % BK : s / BN, b_c = trans_b ? s / BK : s % BN;
      int64_t i = row0 + a_r, ka = k0 + a_k, kb = k0 + b_k, j = col0 + b_c;
      As[a_r][a_k] = i < M && ka < K ? (trans_a ? a[ka * M + i] : a[i * K + ka]) : T(0);
      Bs[b_k][b_c] = kb < K && j < N ? (trans_b ? b[j * K + kb] : b[kb * N + j]) : T(0);
    }
    __syncthreads();
    // Compute: per k, TM + TN shared loads, then the TM x TN outer product from registers.
    KISO_UNROLL
    for (int k = 0; k < BK; ++k) {
      KISO_UNROLL
      for (int m = 0; m < TM; ++m) a_frag[m] = As[trow * TM + m][k];
      KISO_UNROLL
      for (int n = 0; n < TN; ++n) b_frag[n] = Bs[k][tcol * TN + n];
      KISO_UNROLL
      for (int m = 0; m < TM; ++m)
        KISO_UNROLL
        for (int n = 0; n < TN; ++n) acc[m][n] += a_frag[m] * b_frag[n];
    }
    __syncthreads();  // before the next step overwrites the tiles
  }
  KISO_UNROLL
  for (int m = 0; m < TM; ++m) {
    int64_t i = row0 + trow * TM + m;
    KISO_UNROLL
    for (int n = 0; n < TN; ++n) {
      int64_t j = col0 + tcol * TN + n;
      if (i < M && j < N) c[i * N + j] = acc[m][n];
    }
  }
}

}  // namespace

template <Target D, class T>
void matmul_blocktile_2d(KISO_MATMUL_ARGS) {
  launch_tiles(a, b, c, batch, M, N, K, BM, BN, [&](const T* a, const T* b, T* c, dim3 grid) {
    KISO_LAUNCH(matmul_blocktile_2d_kernel<T>, grid, dim3(kThreads), 0, a, b, c, M, N, K, trans_a, trans_b);
  });
}
template decltype(matmul_blocktile_2d<kTarget, float>) matmul_blocktile_2d<kTarget, float>;
template decltype(matmul_blocktile_2d<kTarget, double>) matmul_blocktile_2d<kTarget, double>;

}  // namespace kiso::cuda
