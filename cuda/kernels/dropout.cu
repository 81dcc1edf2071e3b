// cuda/kernels/dropout.cu — dropout, f32 and f64: one thread per element. Compiled by nvcc for
// the GPU and by g++ for the simulator (see cuda/kernels.h); tensor/ops_random.cpp's dropout is
// the oracle.
//
//   y_i = x_i · keep_i / (1 - p),  keep_i = (uniform(draw offset + i) >= p)
//
// Draw d is lane d % 4 of Philox block d / 4 of (seed, stream) — base/philox.h, the very
// function the CPU calls — so element i is kept on the GPU exactly when it is kept on the CPU,
// and the backward (the same call on dy) regenerates the forward's mask.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "base/philox.h"

namespace kiso::cuda {
namespace {

template <class T>
__global__ void dropout_kernel(const T* x, T* y, int64_t n, float p, T scale, uint64_t seed, uint64_t stream,
                               uint64_t offset) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  uint64_t d = offset + uint64_t(i);
  uint32_t bits = philox_block(seed, stream, d / 4)[d % 4];
  y[i] = uniform_from_bits(bits) >= p ? x[i] * scale : T(0);
}

}  // namespace

template <Target D, class T>
void dropout(const T* x, T* y, int64_t n, double p, uint64_t seed, uint64_t stream, uint64_t offset) {
  if (n == 0) return;
  KISO_LAUNCH(dropout_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, x, y, n, float(p), T(1.0 / (1.0 - p)), seed,
              stream, offset);
}
template decltype(dropout<kTarget, float>) dropout<kTarget, float>;
template decltype(dropout<kTarget, double>) dropout<kTarget, double>;

}  // namespace kiso::cuda
