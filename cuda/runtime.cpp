// cuda/runtime.cpp — device discovery, and the GPU's memory and copies (cuda/gpu.h) for
// `make CUDA=1` builds (host code, compiled by g++ against the CUDA runtime). device_status()
// launches the trivial kernel of cuda/selftest.cu once to prove the GPU really runs kiso's code:
// a driver that lists a device can still refuse a kernel built for another architecture.
// The op kernels are in cuda/kernels/*.cu; kiso uses one stream, the default.
#include <atomic>

#include <cuda_runtime.h>

#include "cuda/allocator.h"
#include "cuda/gpu.h"
#include "cuda/runtime.h"
#include "cuda/selftest.h"
#include "base/check.h"

namespace kiso::cuda {

// One place that turns a failed CUDA call into an Error with file, line and the call's text.
static void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess)
    throw Error(fmt::format("CUDA error at {}:{}: {} failed: {} ({})", file, line, call,
                            cudaGetErrorString(err), cudaGetErrorName(err)));
}
#define CUDA_CHECK(call) ::kiso::cuda::cuda_check((call), #call, __FILE__, __LINE__)

// The GPU that device_status() probed, and so made CUDA's context on; -1 before the probe.
// select_device refuses another one after it: the context, and any memory, would stay on this one.
static std::atomic<int> g_probed_device{-1};

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // clear it, so that a later launch's check does not report it
    return 0;
  }
  return count;
}

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
  int device = 0;  // 0 unless select_device chose another; the probe and all memory use it
  cudaGetDevice(&device);
  g_probed_device = device;
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  // Which of several GPUs, when there is a choice.
  const std::string which = count > 1 ? fmt::format(", GPU {} of {}", device, count) : "";
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
  s.message = ok ? fmt::format("{} (compute capability {}.{}, {:.1f} GiB{})", prop.name, prop.major,
                               prop.minor, double(prop.totalGlobalMem) / (1 << 30), which)
                 : fmt::format("GPU {}{} found but a test kernel failed to run: {}", prop.name, which,
                               cudaGetErrorString(last));
  return s;
}

const DeviceStatus& device_status() {
  static const DeviceStatus status = probe();
  return status;
}

namespace gpu {

// The GPU's caching allocator over cudaMalloc / cudaFree. It lives until the process ends
// (never destroyed: a tensor freed during static destruction must still find it); the driver
// takes the memory back at exit.
static CachingAllocator* g_allocator = nullptr;

CachingAllocator& allocator() {
  static CachingAllocator* a = [] {
    if (!device_status().usable) fail("cuda alloc", "{}", device_status().message);
    return g_allocator = new CachingAllocator(
               [](size_t bytes) -> void* {
                 void* p = nullptr;
                 cudaError_t err = cudaMalloc(&p, bytes);
                 if (err == cudaErrorMemoryAllocation) {
                   (void)cudaGetLastError();  // clear it: the allocator empties its cache and tries again
                   return nullptr;
                 }
                 cuda_check(err, "cudaMalloc(&p, bytes)", __FILE__, __LINE__);
                 return p;
               },
               [](void* p) { cudaFree(p); });
  }();
  return *a;
}

size_t bytes_in_use() { return g_allocator ? g_allocator->stats().in_use_bytes : 0; }

void copy(void* dst, const void* src, size_t bytes, Copy kind) {
  cudaMemcpyKind k = kind == Copy::host_to_device   ? cudaMemcpyHostToDevice
                     : kind == Copy::device_to_host ? cudaMemcpyDeviceToHost
                                                    : cudaMemcpyDeviceToDevice;
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

void select_device(int index) {
  const int probed = g_probed_device;
  check(probed < 0 || probed == index, "select_device",
        "GPU {} asked for, but this process already runs on GPU {} (device_status() or device memory came "
        "first); select the GPU before any other CUDA work",
        index, probed);
  CUDA_CHECK(cudaSetDevice(index));
}

}  // namespace gpu

// Declared in cuda/launch.h for the nvcc-compiled launchers: a launch that CUDA refused
// (bad configuration, no kernel image for this GPU) as a kiso::Error naming the kernel and the
// line that launched it.
[[noreturn]] void launch_failed(const char* kernel, const char* file, int line, const char* cuda_message) {
  throw Error(fmt::format("CUDA launch of {} at {}:{} failed: {}", kernel, file, line, cuda_message));
}

}  // namespace kiso::cuda
