// cuda/kernels/bf16_buffer.cu — f32 to packed 2-byte bf16 (base/bf16.h's rounding: to nearest,
// ties to even). What `kiso bench --op matmul` hands cuBLAS's BF16 GEMM, so that cuBLAS and
// kiso's mma_bf16 rung multiply the same numbers. Not (yet) a tensor dtype: kiso's tensors are
// f32, f64 and i32; BF16 training rounds values kept in f32 tensors (cuda/kernels.h).
#include "base/bf16.h"
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

__global__ void bf16_buffer_kernel(const float* x, uint16_t* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = to_bf16(x[i]).bits;
}

}  // namespace

template <Target D>
void bf16_buffer(const float* x, uint16_t* y, int64_t n) {
  if (n == 0) return;
  KISO_LAUNCH(bf16_buffer_kernel, blocks_for(n), dim3(kBlockThreads), 0, x, y, n);
}
template void bf16_buffer<kTarget>(const float*, uint16_t*, int64_t);

}  // namespace kiso::cuda
