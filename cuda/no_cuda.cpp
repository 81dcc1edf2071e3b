// cuda/no_cuda.cpp — the CUDA runtime interface in a build without CUDA (make CUDA=0, or no
// nvcc found). Every call that would need a GPU throws one clear message.
#include "cuda/runtime.h"
#include "tensor/check.h"

namespace kiso::cuda {

const DeviceStatus& device_status() {
  static const DeviceStatus status{false, false, "kiso was built without CUDA (rebuild with `make CUDA=1`; needs nvcc)"};
  return status;
}

void require_device(const char* op) { fail(op, "{}", device_status().message); }

void* device_alloc(size_t) { require_device("cuda alloc"); return nullptr; }
void device_free(void*) {}
void copy_host_to_device(void*, const void*, size_t) { require_device("copy to cuda"); }
void copy_device_to_host(void*, const void*, size_t) { require_device("copy from cuda"); }
void copy_device_to_device(void*, const void*, size_t) { require_device("cuda copy"); }

}  // namespace kiso::cuda
