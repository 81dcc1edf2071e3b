// cuda/kernels/matmul_4_blocktile_1d.cu — rung 4 of the matmul ladder (docs/kernels.md): 1-D
// register blocking. Each thread computes a column of TM = 8 results of c instead of one, so each
// number it reads from shared memory feeds several multiply-adds.
//
// The step from rung 3: rung 3 does 2 shared-memory loads per multiply-add (a_tile[ty][k] and
// b_tile[k][tx]); shared memory, not arithmetic, is its limit. Here a block of 512 threads owns a
// 64 x 64 tile of c and walks K in steps of BK = 8. Per step each thread loads one number of the
// 64 x 8 tile of a and one of the 8 x 64 tile of b (zeros outside), then for each of the 8 k it
// reads ONE number of b, Bs[k][col], keeps it in a register and multiplies it into its 8 results
// rows trow·8 .. trow·8 + 7: 9 shared loads for 8 multiply-adds. The bigger tile also halves the
// global traffic per result again (each loaded number serves 64 results, rung 3: 16).
// Loads walk memory in order in either layout: lanes run along k when k is contiguous (a
// untransposed, b transposed), along the rows of the tile otherwise.
//
// Predicted (f32, M, N, K multiples of 64, aligned buffers; sectors per warp request):
//   load a   4 sectors, either layout (untransposed: 4 rows x 8 k; trans_a: 32 consecutive rows).
//   load b   4 sectors, either layout.
//   store c  4 sectors (32 consecutive columns of one row).
//   shared stores   untransposed a and b: conflict-free (32 consecutive words). trans_a: As[r][k]
//                   with lanes along r is 8 words apart per lane: 8-way conflict; trans_b: Bs[k][j]
//                   with lanes 4 j x 8 k: 8-way. One store per thread per 8 steps of k.
//   shared loads    conflict-free: As[trow·8 + i][k] is one word for the whole warp (a broadcast),
//                   Bs[k][col] 32 consecutive words.
//   barriers        2 per 8 steps of k.
//   global bytes    K·sizeof(T)·(1/64 + 1/64) = K·sizeof(T)/32 per element of c (rung 3: /8);
//                   M·N/(32·(M + N)) times the compulsory reads (n/64 for n x n x n).
// f64: a request of 32 doubles is 8 sectors; the rest scales alike.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/matmul_ladder.h"

namespace kiso::cuda {
namespace {

constexpr int BM = 64, BN = 64, BK = 8;  // the block's tile of c, and the step along K
constexpr int TM = 8;                     // results per thread, along a column
constexpr int kThreads = BM * BN / TM;    // 512
static_assert(BM * BK == kThreads && BK * BN == kThreads, "each thread loads one number of each tile");

// a (M, K) or (K, M) when trans_a; b (K, N) or (N, K) when trans_b; c (M, N); one product each
// blockIdx.y. Thread t computes c[row0 + trow·TM + i][col0 + tcol], i < TM, with tcol = t % BN,
// trow = t / BN: a warp is 32 consecutive columns of the same rows.
template <class T>
__global__ void matmul_blocktile_1d_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                                           int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b) {
  __shared__ T As[BM][BK];  // the tile of op(a): rows row0.., k k0..
  __shared__ T Bs[BK][BN];  // the tile of op(b): k k0.., columns col0..
  auto [z, row0, col0] = block_tile<BM, BN>(N);
  a += z * M * K, b += z * K * N, c += z * M * N;
  int t = int(threadIdx.x);
  int tcol = t % BN, trow = t / BN;
  // Which number of each tile thread t loads: consecutive lanes along the contiguous axis.
  int a_r = trans_a ? t % BM : t / BK, a_k = trans_a ? t / BM : t % BK;  // a is k-contiguous unless trans_a
  int b_k = trans_b ? t % BK : t / BN, b_c = trans_b ? t / BK : t % BN;  // b is column-contiguous unless trans_b

  T acc[TM] = {};
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    int64_t i = row0 + a_r, ka = k0 + a_k, kb = k0 + b_k, j = col0 + b_c;
    As[a_r][a_k] = i < M && ka < K ? (trans_a ? a[ka * M + i] : a[i * K + ka]) : T(0);
    Bs[b_k][b_c] = kb < K && j < N ? (trans_b ? b[j * K + kb] : b[kb * N + j]) : T(0);
    __syncthreads();
    KISO_UNROLL
    for (int k = 0; k < BK; ++k) {
      T b_kj = Bs[k][tcol];  // one shared load, reused TM times
      KISO_UNROLL
      for (int m = 0; m < TM; ++m) acc[m] += As[trow * TM + m][k] * b_kj;
    }
    __syncthreads();  // before the next step overwrites the tiles
  }
  int64_t j = col0 + tcol;
  KISO_UNROLL
  for (int m = 0; m < TM; ++m) {
    int64_t i = row0 + trow * TM + m;
    if (i < M && j < N) c[i * N + j] = acc[m];
  }
}

}  // namespace

template <Target D, class T>
void matmul_blocktile_1d(KISO_MATMUL_ARGS) {
  launch_tiles(a, b, c, batch, M, N, K, BM, BN, [&](const T* a, const T* b, T* c, dim3 grid) {
    KISO_LAUNCH(matmul_blocktile_1d_kernel<T>, grid, dim3(kThreads), 0, a, b, c, M, N, K, trans_a, trans_b);
  });
}
template decltype(matmul_blocktile_1d<kTarget, float>) matmul_blocktile_1d<kTarget, float>;
template decltype(matmul_blocktile_1d<kTarget, double>) matmul_blocktile_1d<kTarget, double>;

}  // namespace kiso::cuda
