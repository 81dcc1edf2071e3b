// cuda/kernels/convert.cu — rounding f32 to bf16 for BF16 mixed precision (tensor/precision.h):
// one thread per element, each calling base/bf16.h's round_bf16, the function the CPU op calls,
// so the simulator and the GPU round every number to the CPU's bits (ties to even, NaN kept a
// NaN, overflow to infinity). The result stays an f32 holding a bf16 value: the matmul after it
// reads ordinary f32 inputs.
// What it is not: a conversion to a 2-byte bf16 buffer (kiso has no bf16 dtype yet), or fused
// into the matmul's loads (the tensor-core rung rounds as it loads; this kernel makes the other
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

}  // namespace

template <Target D> void round_bf16(const float* x, float* y, int64_t n) {
  if (n == 0) return;
  KISO_LAUNCH(round_bf16_kernel, blocks_for(n), dim3(kBlockThreads), 0, x, y, n);
}
template decltype(round_bf16<kTarget>) round_bf16<kTarget>;

}  // namespace kiso::cuda
