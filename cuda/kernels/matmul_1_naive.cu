// cuda/kernels/matmul_1_naive.cu — rung 1 of the matmul ladder (docs/kernels.md): one thread per
// element of c, reading its row of op(a) and its column of op(b) straight from global memory.
// The ladder's starting point and its simplest oracle; slow on purpose, in the way rung 2 fixes.
//
// The idea: c[i][j] = Σ_k A(i,k)·B(k,j), one thread per (i, j), K multiply-adds in a register.
// Blocks are 32 x 8 threads over a 32-row x 8-column tile of c, and threadIdx.x runs along M:
// the 32 lanes of a warp hold 32 consecutive ROWS i of one column j. That is the mistake this
// rung keeps for rung 2 to correct.
//
// Predicted (f32, a and b untransposed, M, N, K multiples of 32, 256-byte aligned buffers;
// "sectors" are 32-byte sectors per warp-wide request; A(i,k) = a[i·K + k], B(k,j) = b[k·N + j]):
//   load a[i·K + k]   32 sectors: the 32 lanes' rows are K numbers apart, so each 4-byte number
//                     costs a sector of its own (12.5% of the 1024 bytes moved are used).
//                     (trans_a: a[k·M + i], 32 consecutive numbers: 4 sectors.)
//   load b[k·N + j]   1 sector: every lane reads the same number (a broadcast); trans_b too.
//   store c[i·N + j]  32 sectors, one per lane, as for a.
//   shared memory     none; no barriers.
//   global bytes      each thread loads K numbers of a and K of b: 2·K·sizeof(T) requested per
//                     element of c, 2·M·N/(M + N) times the compulsory (M·K + K·N)·sizeof(T)
//                     (n times for n x n x n); per 32 results and per k, 33 sectors = 1056 bytes.
// f64: the same sector counts (a lane's 8 bytes still sit in a sector of their own).
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/matmul_ladder.h"

namespace kiso::cuda {
namespace {

constexpr int BM = 32, BN = 8;  // the block's tile of c: 32 rows (threadIdx.x) x 8 columns (threadIdx.y)

// a (M, K) or (K, M) when trans_a; b (K, N) or (N, K) when trans_b; c (M, N); one product each
// blockIdx.y. Thread (x, y) computes c[row0 + x][col0 + y].
template <class T>
__global__ void matmul_naive_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c, int64_t M,
                                    int64_t N, int64_t K, bool trans_a, bool trans_b) {
  auto [z, row0, col0] = block_tile<BM, BN>(N);
  a += z * M * K, b += z * K * N, c += z * M * N;
  int64_t i = row0 + threadIdx.x, j = col0 + threadIdx.y;
  if (i >= M || j >= N) return;
  T acc = 0;
  for (int64_t k = 0; k < K; ++k) {
    T a_ik = trans_a ? a[k * M + i] : a[i * K + k];  // lanes: 32 rows i, K (or 1) apart
    T b_kj = trans_b ? b[j * K + k] : b[k * N + j];  // lanes: one j, the same number
    acc += a_ik * b_kj;
  }
  c[i * N + j] = acc;
}

}  // namespace

template <Target D, class T>
void matmul_naive(KISO_MATMUL_ARGS) {
  launch_tiles(a, b, c, batch, M, N, K, BM, BN, [&](const T* a, const T* b, T* c, dim3 grid) {
    KISO_LAUNCH(matmul_naive_kernel<T>, grid, dim3(BM, BN), 0, a, b, c, M, N, K, trans_a, trans_b);
  });
}
template decltype(matmul_naive<kTarget, float>) matmul_naive<kTarget, float>;
template decltype(matmul_naive<kTarget, double>) matmul_naive<kTarget, double>;

}  // namespace kiso::cuda
