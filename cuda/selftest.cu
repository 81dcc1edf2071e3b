// cuda/selftest.cu — the smallest kernel that proves a launch works end to end.
#include "cuda/selftest.h"

namespace kiso::cuda {

// x: (n,) — one thread per element.
__global__ void add_one(float* x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += 1.0f;
}

cudaError_t launch_add_one(float* x, int n) {
  int threads = 128, blocks = (n + threads - 1) / threads;
  add_one<<<blocks, threads>>>(x, n);
  return cudaGetLastError();
}

}  // namespace kiso::cuda
