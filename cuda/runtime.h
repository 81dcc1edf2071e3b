// cuda/runtime.h — the host-side face of kiso's CUDA backend: is there a usable GPU, device
// memory, host <-> device copies. Nothing here knows about tensors' maths or autograd.
//
// cuda/device.cpp implements what is common (the simulator switch, memory, copies) and routes to
// the GPU through cuda/gpu.h, which cuda/runtime.cpp implements for `make CUDA=1` (the default
// when nvcc is found) and cuda/no_cuda.cpp for CUDA=0, whose every call says clearly that this
// build has no CUDA. A CUDA build on a machine without a usable GPU reports that at the first
// call instead of failing later inside a kernel.
#pragma once

#include <cstddef>
#include <string>

namespace kiso::cuda {

struct DeviceStatus {
  bool built = false;     // compiled with CUDA support
  bool usable = false;    // a GPU was found and a test kernel ran correctly on it
  std::string message;    // one line for humans: the GPU's name, or why there is none
};

// Probes once (cached): device count, device 0's name and compute capability, and a trivial
// kernel launch whose result is checked. Never throws.
const DeviceStatus& device_status();

// Throws kiso::Error with device_status().message when there is no usable GPU and the
// simulator is off; `op` names the caller in the message.
void require_device(const char* op);

// The simulator as the device. With it on, Device::cuda memory is host memory behind the same
// caching allocator, copies are memcpy, and kernels run under cuda/sim: in any build, with or
// without a GPU, so CI exercises the whole CUDA path. It is never chosen silently for a missing
// GPU: KISO_CUDA_SIM=1 in the environment turns it on at start-up, or a program (the tests)
// calls use_simulator. Switching while device memory is in use is an error (the memory would
// go back to the wrong allocator).
void use_simulator(bool on);
bool simulator_on();
// What Device::cuda is now, in words: "the simulator (KISO_CUDA_SIM=1)" or the GPU's line of
// device_status() (its name, or why there is none).
std::string device_name();

// Device memory: the caching allocator (cuda/allocator.h) of the GPU or of the simulator.

void* device_alloc(size_t bytes);
void device_free(void* ptr);
// What the caching allocator of the device in use holds: bytes handed out now, and the most it
// has held (handed out + cached) since the last reset_device_memory_peak(), which first returns
// the cached blocks, so that the peak of what follows is the device memory that work needed.
struct DeviceMemory {
  size_t in_use_bytes = 0;
  size_t peak_bytes = 0;
};
DeviceMemory device_memory();
void reset_device_memory_peak();
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);
// Waits until every kernel launched so far has finished (launches are asynchronous on a GPU;
// under the simulator a launch returns when it is done). Timers call it; results never need it,
// as a copy to the host waits by itself.
void synchronize();

}  // namespace kiso::cuda
