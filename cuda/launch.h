// cuda/launch.h — the one way kiso launches a kernel, and what a kernel source includes.
//
// Under nvcc, KISO_LAUNCH(kernel, grid, block, shared_bytes, args...) is kernel<<<...>>>(args...)
// followed by a check of the launch; under g++ the same call runs the kernel in the host-side
// simulator (cuda/sim/sim.h), so one kernel source serves the GPU and CI. A kernel declares
// dynamic shared memory with KISO_DYNAMIC_SHARED(T, name) instead of `extern __shared__ T name[]`.
// What it is not: a stream or graph API (one stream, the default).
#pragma once

#include <cstddef>

// KISO_KERNEL_TARGET names the namespace a kernel file's launchers go in, so that the two
// compilations of one file (cuda/kernels/*.cu) link side by side: kiso::cuda::gpu_kernels and
// kiso::cuda::sim_kernels (cuda/kernels.h declares both).
#ifdef __CUDACC__
#include <cuda_runtime.h>
#define KISO_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#define KISO_KERNEL_TARGET gpu_kernels
#else
#include "cuda/sim/sim.h"
#define KISO_KERNEL_TARGET sim_kernels
#endif

namespace kiso::cuda {

// Where a launch is written: the kernel as spelled there, and the source line (for errors).
struct LaunchSite {
  const char* kernel;
  const char* file;
  int line;
};

#ifdef __CUDACC__
// Throws kiso::Error naming the kernel, the launch's file and line, and CUDA's message
// (cuda/runtime.cpp).
[[noreturn]] void launch_failed(const char* kernel, const char* file, int line, const char* cuda_message);
#endif

template <class... Params, class... Args>
void launch(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
            Args... args) {
#ifdef __CUDACC__
  kernel<<<grid, block, shared_bytes>>>(args...);
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess)
    launch_failed(site.kernel, site.file, site.line, cudaGetErrorString(err));
#else
  ::kiso::sim::launch(site.kernel, grid, block, shared_bytes, [&] { kernel(args...); });
#endif
}

}  // namespace kiso::cuda

// The launch every kernel source writes: KISO_LAUNCH(kernel<T>, grid, block, shared_bytes, args...).
#define KISO_LAUNCH(kernel, grid, block, shared_bytes, ...) \
  ::kiso::cuda::launch({#kernel, __FILE__, __LINE__}, kernel, grid, block, shared_bytes, __VA_ARGS__)
