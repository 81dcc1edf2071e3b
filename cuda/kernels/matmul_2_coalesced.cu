// cuda/kernels/matmul_2_coalesced.cu — rung 2 of the matmul ladder (docs/kernels.md): rung 1 with
// the threads of a warp laid along a ROW of c instead of a column. Same arithmetic, same number
// of loads; only which addresses a warp asks for at once changes, and with it the memory traffic.
//
// The step from rung 1: threadIdx.x now runs along N. The 32 lanes of a warp hold 32 consecutive
// columns j of one row i, so at each k they read ONE number of a (a broadcast) and 32 CONSECUTIVE
// numbers of b, and write 32 consecutive numbers of c: each warp request is served by the fewest
// 32-byte sectors that can hold it ("coalesced"). Blocks are 32 x 8 threads over an 8-row x
// 32-column tile of c.
//
// Predicted (f32, untransposed, M, N, K multiples of 32, aligned buffers; sectors per warp request):
//   load a[i·K + k]   1 sector (all lanes the same number); trans_a also 1.
//   load b[k·N + j]   4 sectors: 128 consecutive bytes, all used (rung 1: 1 sector, a broadcast;
//                     what changes is a, from 32 to 1). trans_b: b[j·K + k] is K apart along
//                     the lanes: 32 sectors, this rung's uncoalesced case (tiling fixes it).
//   store c[i·N + j]  4 sectors (rung 1: 32).
//   shared memory     none; no barriers.
//   global bytes      as rung 1: 2·K·sizeof(T) requested per element of c, but per 32 results
//                     and per k 5 sectors (160 bytes) move instead of 33 (1056): 6.6x fewer.
// f64: b and c requests are 256 bytes, 8 sectors.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/matmul_ladder.h"

namespace kiso::cuda {
namespace {

constexpr int BM = 8, BN = 32;  // the block's tile of c: 8 rows (threadIdx.y) x 32 columns (threadIdx.x)

// As rung 1, with thread (x, y) computing c[row0 + y][col0 + x].
template <class T>
__global__ void matmul_coalesced_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                                        int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b) {
  auto [z, row0, col0] = block_tile<BM, BN>(N);
  a += z * M * K, b += z * K * N, c += z * M * N;
  int64_t i = row0 + threadIdx.y, j = col0 + threadIdx.x;
  if (i >= M || j >= N) return;
  T acc = 0;
  for (int64_t k = 0; k < K; ++k) {
    T a_ik = trans_a ? a[k * M + i] : a[i * K + k];  // lanes: one i, the same number
    T b_kj = trans_b ? b[j * K + k] : b[k * N + j];  // lanes: 32 consecutive j
    acc += a_ik * b_kj;
  }
  c[i * N + j] = acc;
}

}  // namespace

template <Target D, class T>
void matmul_coalesced(KISO_MATMUL_ARGS) {
  launch_tiles(a, b, c, batch, M, N, K, BM, BN, [&](const T* a, const T* b, T* c, dim3 grid) {
    KISO_LAUNCH(matmul_coalesced_kernel<T>, grid, dim3(BN, BM), 0, a, b, c, M, N, K, trans_a, trans_b);
  });
}
template decltype(matmul_coalesced<kTarget, float>) matmul_coalesced<kTarget, float>;
template decltype(matmul_coalesced<kTarget, double>) matmul_coalesced<kTarget, double>;

}  // namespace kiso::cuda
