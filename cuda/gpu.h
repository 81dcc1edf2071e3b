// cuda/gpu.h — internal to cuda/: the real GPU's memory and copies. cuda/runtime.cpp implements
// it over the CUDA runtime (make CUDA=1); cuda/no_cuda.cpp refuses every call with
// device_status()'s message (CUDA=0). cuda/device.cpp routes Device::cuda to these or to the
// simulator; nothing outside cuda/ includes this file.
#pragma once

#include <cstddef>

#include "cuda/allocator.h"

namespace kiso::cuda::gpu {

CachingAllocator& allocator();  // over cudaMalloc / cudaFree; throws when there is no GPU
size_t bytes_in_use();          // 0 when the allocator was never made

enum class Copy { host_to_device, device_to_host, device_to_device };
void copy(void* dst, const void* src, size_t bytes, Copy kind);
void synchronize();  // waits for every launched kernel to finish
void select_device(int index);  // cudaSetDevice; device.cpp has checked the range

}  // namespace kiso::cuda::gpu
