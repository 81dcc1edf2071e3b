// cuda/selftest.h — the trivial kernel every CUDA build links, used by cuda/runtime.cpp to
// check that a GPU actually runs kiso's code.
#pragma once

#include <cuda_runtime.h>

namespace kiso::cuda {

// x: (n,) device memory — x[i] += 1. Returns the launch's error code.
cudaError_t launch_add_one(float* x, int n);

}  // namespace kiso::cuda
