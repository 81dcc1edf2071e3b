// cuda/kernels/matmul_3_tiled.cu — rung 3 of the matmul ladder: shared-memory tiling. Each block
// computes a 16 x 16 tile of C, stepping along K one 16 x 16 tile of A and of B at a time.
// Compiled by nvcc for the GPU and by g++ for the simulator (see cuda/kernels.h); the CPU's GEMM
// (tensor/ops_matmul.cpp) is the oracle. Correct and clear, not fast (no register blocking, no
// tensor cores): the rungs after it are.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

constexpr int kTile = 16;

// Block (x, y, z) computes C[z] rows y·16 .. y·16+15, columns x·16 .. x·16+15; thread (tx, ty)
// owns C[row = y·16 + ty][col = x·16 + tx]. Per step along K, every thread loads one element of
// the A tile and one of the B tile (zero outside the matrices), a barrier, 16 multiply-adds
// from shared memory, and a barrier before the tiles are overwritten.
template <class T>
__global__ void matmul_kernel(const T* a, const T* b, T* c, int64_t M, int64_t N, int64_t K, bool trans_a,
                              bool trans_b) {
  __shared__ T a_tile[kTile][kTile + 1];  // +1: threads of a warp read a column without bank conflicts
  __shared__ T b_tile[kTile][kTile + 1];
  int64_t z = blockIdx.z;
  a += z * M * K, b += z * K * N, c += z * M * N;
  int tx = int(threadIdx.x), ty = int(threadIdx.y);
  int64_t row = int64_t(blockIdx.y) * kTile + ty, col = int64_t(blockIdx.x) * kTile + tx;
  T acc = 0;
  for (int64_t k0 = 0; k0 < K; k0 += kTile) {
    int64_t ka = k0 + tx, kb = k0 + ty;
    a_tile[ty][tx] = row < M && ka < K ? (trans_a ? a[ka * M + row] : a[row * K + ka]) : T(0);
    b_tile[ty][tx] = kb < K && col < N ? (trans_b ? b[col * K + kb] : b[kb * N + col]) : T(0);
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc += a_tile[ty][k] * b_tile[k][tx];
    __syncthreads();
  }
  if (row < M && col < N) c[row * N + col] = acc;
}

}  // namespace

template <Target D, class T>
void matmul_tiled(const T* a, const T* b, T* c, int64_t batch, int64_t M, int64_t N, int64_t K, bool trans_a,
                  bool trans_b) {
  if (batch == 0 || M == 0 || N == 0) return;
  dim3 grid(unsigned((N + kTile - 1) / kTile), unsigned((M + kTile - 1) / kTile), unsigned(batch));
  KISO_LAUNCH(matmul_kernel<T>, grid, dim3(kTile, kTile), 0, a, b, c, M, N, K, trans_a, trans_b);
}
template decltype(matmul_tiled<kTarget, float>) matmul_tiled<kTarget, float>;
template decltype(matmul_tiled<kTarget, double>) matmul_tiled<kTarget, double>;

}  // namespace kiso::cuda
