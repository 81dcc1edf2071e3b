// cuda/kernels/convert.cu — f32 to bf16, one thread per element, each calling base/bf16.h, the
// functions the CPU calls, so the simulator and the GPU round every number to the CPU's bits
// (ties to even, NaN kept a NaN, overflow to infinity):
//   round_bf16   for BF16 mixed precision (tensor/precision.h): the result stays an f32 holding
//                a bf16 value, so the matmul after it reads ordinary f32 inputs;
//   bf16_buffer  packed 2-byte bf16, for cuBLAS's BF16 GEMM in `kiso bench --op matmul` only.
// What it is not: a bf16 dtype (kiso has none yet: bf16 values live in f32 tensors), or fused
// into the matmul's loads (the tensor-core rung rounds as it loads; round_bf16 makes the other
// rungs compute the same numbers).
#include "base/bf16.h"
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

// x, y: (n,)
__global__ void round_bf16_kernel(const float* x, float* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = kiso::round_bf16(x[i]);
}

// x: (n,) f32; y: (n,) bf16 bits
__global__ void bf16_buffer_kernel(const float* x, uint16_t* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = to_bf16(x[i]).bits;
}

}  // namespace

template <Target D> void round_bf16(const float* x, float* y, int64_t n) {
  if (n == 0) return;
  KISO_LAUNCH(round_bf16_kernel, blocks_for(n), dim3(kBlockThreads), 0, x, y, n);
}
template decltype(round_bf16<kTarget>) round_bf16<kTarget>;

template <Target D> void bf16_buffer(const float* x, uint16_t* y, int64_t n) {
  if (n == 0) return;
  KISO_LAUNCH(bf16_buffer_kernel, blocks_for(n), dim3(kBlockThreads), 0, x, y, n);
}
template decltype(bf16_buffer<kTarget>) bf16_buffer<kTarget>;

}  // namespace kiso::cuda
