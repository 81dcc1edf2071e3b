// cuda/no_cuda.cpp — the GPU side of the CUDA runtime interface in a build without CUDA
// (make CUDA=0, or no nvcc found). Every call that would need a GPU throws one clear message;
// the simulator (cuda/device.cpp) works all the same.
#include "cuda/gpu.h"
#include "cuda/runtime.h"
#include "base/check.h"

namespace kiso::cuda {

const DeviceStatus& device_status() {
  static const DeviceStatus status{false, false, "kiso was built without CUDA (rebuild with `make CUDA=1`; needs nvcc)"};
  return status;
}

int device_count() { return 0; }

namespace gpu {

CachingAllocator& allocator() { fail("cuda alloc", "{}", device_status().message); }
size_t bytes_in_use() { return 0; }
void copy(void*, const void*, size_t, Copy) { fail("cuda copy", "{}", device_status().message); }
void synchronize() { fail("cuda synchronize", "{}", device_status().message); }
void select_device(int) { fail("select_device", "{}", device_status().message); }

}  // namespace gpu

}  // namespace kiso::cuda
