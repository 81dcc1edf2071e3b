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
#include <cstdint>
#include <string>

namespace kiso::cuda {

struct DeviceStatus {
  bool built = false;     // compiled with CUDA support
  bool usable = false;    // a GPU was found and a test kernel ran correctly on it
  std::string message;    // one line for humans: the GPU's name, or why there is none
};

// Probes once (cached): device count, the name and compute capability of this process's GPU
// (device 0, or the one select_device chose), and a trivial kernel launch on it whose result is
// checked. Never throws.
const DeviceStatus& device_status();

// Choosing the GPU of a process, for data-parallel training: one process per GPU, each rank
// selecting its own before it touches CUDA in any other way.
//
// The GPUs the driver lists (cudaGetDeviceCount): 0 in a CPU-only build, without a driver, or
// without a GPU. Whether they run kiso's kernels is device_status()'s question, which this does
// not ask: counting makes no CUDA context, so a process may count before it chooses. Never throws.
int device_count();
// Makes GPU `index` (0 <= index < device_count()) the device of this process: cudaSetDevice, for
// the calling thread, which is the thread that runs kiso's CUDA work (the main one). It must come
// before any other CUDA work of the process (device_status(), device memory, NCCL): that work
// would have started on device 0, so asking for another GPU after it is an Error, as is an index
// out of range (the message names the index and the count). With the simulator on, a no-op:
// there is no GPU to choose.
void select_device(int index);

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
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);
// The copies made so far in this process, through the three calls above (the GPU's and the
// simulator's alike), counted per direction. A copy to the host waits for every kernel queued
// before it: in a training step that is a stall of the GPU's queue, so tests count them
// (tests/cuda/test_roundtrips.cpp) to keep such round trips out of the step.
struct CopyCounts {
  uint64_t host_to_device = 0, device_to_host = 0, device_to_device = 0;
  uint64_t device_to_host_bytes = 0;
};
CopyCounts copy_counts();

// The device memory of the active allocator (the GPU's or the simulator's), in bytes: what
// tensors hold now, the most they have held since the last reset_peak_memory (the honest
// figure for "how much memory does a step need": the allocator's cache is not counted), and
// what the allocator holds in all, cache included.
struct MemoryStats {
  size_t in_use = 0, peak_in_use = 0, reserved = 0;
};
MemoryStats memory_stats();
void reset_peak_memory();  // peak_in_use := in_use

// Waits until every kernel launched so far has finished (launches are asynchronous on a GPU;
// under the simulator a launch returns when it is done). Timers call it; results never need it,
// as a copy to the host waits by itself.
void synchronize();

}  // namespace kiso::cuda
