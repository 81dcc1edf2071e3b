// cuda/kernels/matmul_3_tiled.cu — rung 3 of the matmul ladder (docs/kernels.md): shared-memory
// tiling. Each block computes a 16 x 16 tile of c, stepping along K one 16 x 16 tile of a and of b
// at a time. Compiled by nvcc for the GPU and by g++ for the simulator (see cuda/kernels.h); the
// CPU's GEMM (tensor/ops_matmul.cpp) is the oracle. Correct and clear, not fast (no register
// blocking, no tensor cores): the rungs after it are.
//
// The step from rung 2: rungs 1-2 load every number of a and b K times per output tile row or
// column, from global memory (L1/L2 at best). Here a block's 256 threads first copy a 16 x 16 tile
// of a and one of b into shared memory, one number each, then each thread does 16 multiply-adds
// from there: every number a block loads from global memory is used 16 times.
//
// Predicted (f32, untransposed, M, N, K multiples of 16, aligned buffers; a warp is two rows ty,
// ty + 1 of 16 threads; sectors per warp request):
//   load a (16 x 16 tile)  4 sectors (two rows of 64 bytes, K a multiple of 8). trans_a: lanes
//                          along k read M apart: 16 sectors (pairs i, i + 1 share one).
//   load b                 4 sectors. trans_b: 16 sectors, as for trans_a.
//   store c                4 sectors.
//   shared stores          2-way bank conflict: with the row pitch 17, lane 0 (word 17·ty) and
//                          lane 31 (word 17·ty + 32) of a warp share a bank.
//   shared loads           conflict-free: a_tile[ty][k] is 2 words (broadcast to 16 lanes each,
//                          17 banks apart), b_tile[k][tx] 16 consecutive words.
//   barriers               2 per 16 steps of k.
//   global bytes           K·sizeof(T)·(1/16 + 1/16) = K·sizeof(T)/8 per element of c (rungs
//                          1-2: 2·K·sizeof(T)), M·N/(8·(M + N)) times the compulsory reads
//                          (n/16 times for n x n x n).
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/epilogue.h"
#include "cuda/kernels/matmul_ladder.h"

namespace kiso::cuda {
namespace {

constexpr int kTile = 16;

// Block (x, y) computes a 16 x 16 tile of c[y] (block_tile: rows row0.., columns col0..); thread
// (tx, ty) owns C[row = row0 + ty][col = col0 + tx]. Per step along K, every thread loads one element of
// the A tile and one of the B tile (zero outside the matrices), a barrier, 16 multiply-adds
// from shared memory, and a barrier before the tiles are overwritten. The sum goes out through
// the epilogue `ep` (cuda/kernels/epilogue.h; Epilogue{}: stored as it is).
template <class T>
__global__ void matmul_kernel(const T* a, const T* b, T* c, int64_t M, int64_t N, int64_t K, bool trans_a,
                              bool trans_b, Epilogue<T> ep) {
  __shared__ T a_tile[kTile][kTile + 1];  // +1: threads of a warp read a column without bank conflicts
  __shared__ T b_tile[kTile][kTile + 1];
  auto [z, row0, col0] = block_tile<kTile, kTile>(N);
  a += z * M * K, b += z * K * N, c += z * M * N;
  ep = epilogue_at(ep, z * M * N);
  int tx = int(threadIdx.x), ty = int(threadIdx.y);
  int64_t row = row0 + ty, col = col0 + tx;
  T acc = 0;
  for (int64_t k0 = 0; k0 < K; k0 += kTile) {
    int64_t ka = k0 + tx, kb = k0 + ty;
    a_tile[ty][tx] = row < M && ka < K ? (trans_a ? a[ka * M + row] : a[row * K + ka]) : T(0);
    b_tile[ty][tx] = kb < K && col < N ? (trans_b ? b[col * K + kb] : b[kb * N + col]) : T(0);
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc += a_tile[ty][k] * b_tile[k][tx];
    __syncthreads();
  }
  if (row < M && col < N) epilogue_store(ep, c, row * N + col, acc, epilogue_bias(ep, col, N));
}

}  // namespace

template <Target D, class T>
void matmul_tiled(KISO_MATMUL_ARGS, const Epilogue<T>& ep) {
  T* const c_base = c;
  launch_tiles(a, b, c, batch, M, N, K, kTile, kTile, [&](const T* a, const T* b, T* c, dim3 grid) {
    KISO_LAUNCH(matmul_kernel<T>, grid, dim3(kTile, kTile), 0, a, b, c, M, N, K, trans_a, trans_b,
                epilogue_at(ep, c - c_base));
  });
}
template decltype(matmul_tiled<kTarget, float>) matmul_tiled<kTarget, float>;
template decltype(matmul_tiled<kTarget, double>) matmul_tiled<kTarget, double>;

}  // namespace kiso::cuda
