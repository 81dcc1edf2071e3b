// cuda/device.cpp — Device::cuda's memory and copies, on the GPU (cuda/gpu.h) or, with the
// simulator on, in host memory. Host code, in every build. Not the kernels (cuda/kernels/*.cu).
#include <atomic>
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

void select_device(int index) {
  if (simulator_on()) return;  // the simulator is the device: there is no GPU to choose
  const int count = device_count();
  // With no GPU at all, device_status() says why (no driver, a CPU-only build); probing costs
  // nothing then, as there is no device to make a context on.
  if (count == 0) fail("select_device", "GPU {} asked for, but there are 0 GPUs: {}", index, device_status().message);
  check(index >= 0 && index < count, "select_device", "GPU {} asked for, but there are {} GPUs (0 to {})", index,
        count, count - 1);
  gpu::select_device(index);
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

// Per direction: copies, and the bytes copied back. Atomics: tensors may be copied from OpenMP
// threads (a data loader), and a count must not be lost.
static std::atomic<uint64_t> g_copies[3], g_bytes_to_host;

static void copy(void* dst, const void* src, size_t bytes, gpu::Copy kind, const char* op) {
  require_device(op);
  g_copies[int(kind)]++;
  if (kind == gpu::Copy::device_to_host) g_bytes_to_host += bytes;
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

CopyCounts copy_counts() {
  return {.host_to_device = g_copies[int(gpu::Copy::host_to_device)],
          .device_to_host = g_copies[int(gpu::Copy::device_to_host)],
          .device_to_device = g_copies[int(gpu::Copy::device_to_device)],
          .device_to_host_bytes = g_bytes_to_host};
}

MemoryStats memory_stats() {
  if (!simulator_on() && !device_status().usable) return {};  // no device: nothing allocated
  CachingAllocator::Stats s = active_allocator().stats();
  return {.in_use = s.in_use_bytes, .peak_in_use = s.peak_in_use_bytes, .reserved = s.in_use_bytes + s.cached_bytes};
}

void reset_peak_memory() {
  if (simulator_on() || device_status().usable) active_allocator().reset_peak();
}

std::string device_name() { return simulator_on() ? "the simulator (KISO_CUDA_SIM=1)" : device_status().message; }

void synchronize() {
  if (!simulator_on()) gpu::synchronize();
}

}  // namespace kiso::cuda
