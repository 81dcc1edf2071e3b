// cuda/launch.h — the one way kiso launches a kernel, and what a kernel source includes.
//
// Under nvcc, KISO_LAUNCH(kernel, grid, block, shared_bytes, args...) is kernel<<<...>>>(args...)
// followed by a check of the launch; under g++ the same call runs the kernel in the host-side
// simulator (cuda/sim/sim.h), so one kernel source serves the GPU and CI. A kernel declares
// dynamic shared memory with KISO_DYNAMIC_SHARED(T, name) instead of `extern __shared__ T name[]`.
// What it is not: a stream or graph API (one stream, the default).
#pragma once

#include <cstddef>

#ifdef __CUDACC__
#include <cuda_runtime.h>
#define KISO_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#else
#include "cuda/sim/sim.h"
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

// In an unnamed namespace: the nvcc and the g++ compilation each keep their own launch.
namespace {

template <class... Params, class... Args>
void launch(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
            Args... args) {
#ifdef __CUDACC__
  kernel<<<grid, block, shared_bytes>>>(args...);
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess)
    launch_failed(site.kernel, site.file, site.line, cudaGetErrorString(err));
#else
  // The body stays on this (the launching thread's) stack, held by reference: a std::function
  // copying it to the heap would make every thread's read of the arguments look like a load
  // from device memory to the simulator's profile.
  auto body = [&] { kernel(args...); };
  ::kiso::sim::launch(site.kernel, grid, block, shared_bytes, std::ref(body));
#endif
}

}  // namespace
}  // namespace kiso::cuda

// The launch every kernel source writes: KISO_LAUNCH(kernel<T>, grid, block, shared_bytes, args...).
#define KISO_LAUNCH(kernel, grid, block, shared_bytes, ...) \
  ::kiso::cuda::launch({#kernel, __FILE__, __LINE__}, kernel, grid, block, shared_bytes, __VA_ARGS__)
