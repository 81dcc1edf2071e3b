// cuda/runtime.cpp — device discovery, memory and copies for `make CUDA=1` builds (host code,
// compiled by g++ against the CUDA runtime). device_status() launches the trivial kernel of
// cuda/selftest.cu once to prove the GPU really runs kiso's code: a driver that lists a device
// can still refuse a kernel built for another architecture.
//
// Not here yet: the caching allocator, streams and the op kernels (the CUDA backend issue).
#include <cuda_runtime.h>

#include "cuda/runtime.h"
#include "cuda/selftest.h"
#include "tensor/check.h"

namespace kiso::cuda {

// One place that turns a failed CUDA call into an Error with file, line and the call's text.
static void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess)
    throw Error(fmt::format("CUDA error at {}:{}: {} failed: {} ({})", file, line, call,
                            cudaGetErrorString(err), cudaGetErrorName(err)));
}
#define CUDA_CHECK(call) ::kiso::cuda::cuda_check((call), #call, __FILE__, __LINE__)

static DeviceStatus probe() {
  DeviceStatus s;
  s.built = true;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    s.message = err != cudaSuccess
                    ? fmt::format("no usable CUDA GPU: cudaGetDeviceCount failed: {} (is there an NVIDIA GPU and driver?)",
                                  cudaGetErrorString(err))
                    : std::string("no usable CUDA GPU: the driver reports 0 devices");
    return s;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  // Run add_one on 3 numbers and check the answer.
  float host[3] = {1.f, 2.f, 3.f};
  float* dev = nullptr;
  bool ok = cudaMalloc(&dev, sizeof host) == cudaSuccess &&
            cudaMemcpy(dev, host, sizeof host, cudaMemcpyHostToDevice) == cudaSuccess;
  if (ok) {
    ok = launch_add_one(dev, 3) == cudaSuccess &&
         cudaMemcpy(host, dev, sizeof host, cudaMemcpyDeviceToHost) == cudaSuccess &&
         host[0] == 2.f && host[1] == 3.f && host[2] == 4.f;
  }
  cudaError_t last = cudaGetLastError();
  if (dev) cudaFree(dev);
  s.usable = ok;
  s.message = ok ? fmt::format("{} (compute capability {}.{}, {:.1f} GiB)", prop.name, prop.major,
                               prop.minor, double(prop.totalGlobalMem) / (1 << 30))
                 : fmt::format("GPU {} found but a test kernel failed to run: {}", prop.name,
                               cudaGetErrorString(last));
  return s;
}

const DeviceStatus& device_status() {
  static const DeviceStatus status = probe();
  return status;
}

void require_device(const char* op) {
  if (!device_status().usable) fail(op, "{}", device_status().message);
}

void* device_alloc(size_t bytes) {
  require_device("cuda alloc");
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
  return p;
}

void device_free(void* ptr) {
  if (ptr) cudaFree(ptr);  // never throws from a destructor
}

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  require_device("copy to cuda");
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  require_device("copy from cuda");
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  require_device("cuda copy");
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

}  // namespace kiso::cuda
