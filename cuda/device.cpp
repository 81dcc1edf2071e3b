// cuda/device.cpp — Device::cuda's memory and copies, on the GPU (cuda/gpu.h) or, with the
// simulator on, in host memory. Host code, in every build. Not the kernels (cuda/kernels/*.cu).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "cuda/allocator.h"
#include "cuda/gpu.h"
#include "cuda/runtime.h"
#include "base/check.h"

namespace kiso::cuda {

namespace {

std::mutex g_mode_mutex;

bool& simulator_flag() {
  static bool on = [] {
    const char* v = std::getenv("KISO_CUDA_SIM");
    return v != nullptr && std::string(v) == "1";
  }();
  return on;
}

// The simulator's device memory: host memory, 256-byte aligned like cudaMalloc's (every size
// class is a multiple of 256, as aligned_alloc requires). Never destroyed, like the GPU's.
CachingAllocator& sim_allocator() {
  static CachingAllocator* a =
      new CachingAllocator([](size_t bytes) { return std::aligned_alloc(256, bytes); }, [](void* p) { std::free(p); });
  return *a;
}

CachingAllocator& active_allocator() { return simulator_on() ? sim_allocator() : gpu::allocator(); }

}  // namespace

bool simulator_on() {
  std::lock_guard<std::mutex> lock(g_mode_mutex);
  return simulator_flag();
}

void use_simulator(bool on) {
  std::lock_guard<std::mutex> lock(g_mode_mutex);
  if (simulator_flag() == on) return;
  size_t in_use = simulator_flag() ? sim_allocator().stats().in_use_bytes : gpu::bytes_in_use();
  check(in_use == 0, "cuda", "cannot switch the simulator {} while {} bytes of device memory are in use",
        on ? "on" : "off", in_use);
  simulator_flag() = on;
}

void require_device(const char* op) {
  if (!simulator_on() && !device_status().usable) fail(op, "{}", device_status().message);
}

void* device_alloc(size_t bytes) {
  require_device("cuda alloc");
  return active_allocator().allocate(bytes);
}

void device_free(void* ptr) {
  if (ptr == nullptr) return;
  try {  // called from destructors: report, never throw
    active_allocator().release(ptr);
  } catch (const Error& e) {
    std::fprintf(stderr, "kiso: %s\n", e.what());
  }
}

DeviceMemory device_memory() {
  require_device("cuda memory");
  CachingAllocator::Stats s = active_allocator().stats();
  return {s.in_use_bytes, s.peak_bytes};
}

void reset_device_memory_peak() {
  require_device("cuda memory");
  active_allocator().empty_cache();
  active_allocator().reset_peak();
}

static void copy(void* dst, const void* src, size_t bytes, gpu::Copy kind, const char* op) {
  require_device(op);
  if (simulator_on()) std::memcpy(dst, src, bytes);
  else gpu::copy(dst, src, bytes, kind);
}

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  copy(dst, src, bytes, gpu::Copy::host_to_device, "copy to cuda");
}
void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  copy(dst, src, bytes, gpu::Copy::device_to_host, "copy from cuda");
}
void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  copy(dst, src, bytes, gpu::Copy::device_to_device, "cuda copy");
}

std::string device_name() { return simulator_on() ? "the simulator (KISO_CUDA_SIM=1)" : device_status().message; }

void synchronize() {
  if (!simulator_on()) gpu::synchronize();
}

}  // namespace kiso::cuda
