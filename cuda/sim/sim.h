// cuda/sim/sim.h — a host-side SIMT simulator, so that kiso's CUDA kernels run, unchanged, on
// a machine with no GPU (CI's). A kernel source compiled by g++ includes this header instead of
// CUDA's; `launch` then runs the grid block by block, and each block's threads as cooperative
// fibers on the calling OS thread (sim.cpp says how a fiber's stack is switched):
//
//   - a thread runs until it reaches a barrier (__syncthreads, or a warp-level operation) or
//     returns; the scheduler resumes the others; when every live thread of the block (of the
//     warp) waits at the barrier, all are released. So barriers, shared memory and warp
//     shuffles behave as on a GPU, and data races that a barrier would have prevented show.
//   - `__shared__` variables are function statics: blocks run one at a time, so one copy per
//     kernel serves each block in turn (a kernel must not rely on shared memory's contents at
//     block start, as on a GPU). Dynamic shared memory (KISO_DYNAMIC_SHARED) is a fresh buffer
//     per block, filled with 0xff bytes (NaN as float) so that reading it before writing shows.
//   - atomics are plain read-modify-writes: only one fiber runs at a time and none is
//     interrupted between two statements.
//   - a __syncthreads that some threads of the block never reach (they returned, or wait at a
//     warp barrier) is a deadlock on a GPU; here it is a kiso::Error naming the kernel, the
//     block and a thread that is missing. An exception thrown in a kernel stops the launch and
//     is rethrown by `launch` (the other threads' stacks are dropped without unwinding).
//
// It also measures what a launch asks of the memory system (cuda/sim/profile.h): every load and
// store a simulated kernel makes is seen by a hook the compiler inserts, and the k-th access of a
// kind (global load, shared store, ...) of each of the 32 lanes of a warp is taken as one warp
// instruction, as the hardware issues it.
//
// What it is not: a timing model, a memory-model checker or a GPU emulator. Warp operations
// require every live lane of the warp to take part (the `mask` argument is not interpreted);
// launches from several host threads are serialised (function-static shared memory is one
// copy per kernel).
//
// Kernel sources include "cuda/sim/sim.h" only through cuda/launch.h, which picks CUDA under
// nvcc and this header under g++. Its second half (the CUDA dialect: threadIdx, __global__,
// __syncthreads, ...) is macros, left out when KISO_SIM_NO_DIALECT is defined (sim.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda/sim/profile.h"

namespace kiso::sim {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

constexpr int kWarpSize = 32;

// The thread the scheduler is running: what threadIdx, blockIdx, blockDim and gridDim read.
struct ThreadPlace {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
};
const ThreadPlace& here();

// Runs `body` once per thread of grid x block, as described above. `kernel` names it in
// errors; `shared_bytes` is the dynamic shared memory per block. Throws kiso::Error for a bad
// configuration (a zero or over-1024-thread block), a deadlock, or what the kernel threw.
void launch(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body);

// Per-fiber stack size in bytes (default 64 KiB); a kernel with large local arrays may need more.
void set_stack_bytes(size_t bytes);

void syncthreads();             // every live thread of the block
void syncwarp();                // every live lane of the calling thread's warp
void* dynamic_shared();         // this block's dynamic shared memory

// The warp exchange behind the shuffles and votes: every live lane of the warp publishes
// `bits` and reads those of lane `src` (its own when `src` is outside 0..31 or not live).
uint64_t warp_exchange(uint64_t bits, int src);
unsigned warp_ballot(bool predicate);
int lane_id();

// Every live lane of the warp publishes `bytes` (at most kGatherBytes) from `mine`; each gets all
// 32 lanes' in `all` (32 · bytes, in lane order; the slot of a lane that has returned is zeros).
// The warp-collective that the tensor-core twin (mma.sync's fragments) is built on.
constexpr size_t kGatherBytes = 64;
void warp_all_gather(const void* mine, void* all, size_t bytes);

template <class T>
T shfl_any(T value, int src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move values of up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  uint64_t got = warp_exchange(bits, src);
  T out;
  std::memcpy(&out, &got, sizeof(T));
  return out;
}

}  // namespace kiso::sim

#ifndef KISO_SIM_NO_DIALECT

// ---- the CUDA dialect, as seen by a kernel compiled with g++ ----

using kiso::sim::dim3;
using kiso::sim::uint3;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define threadIdx (::kiso::sim::here().thread_idx)
#define blockIdx (::kiso::sim::here().block_idx)
#define blockDim (::kiso::sim::here().block_dim)
#define gridDim (::kiso::sim::here().grid_dim)
#define warpSize (::kiso::sim::kWarpSize)

inline void __syncthreads() { kiso::sim::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { kiso::sim::syncwarp(); }

// Shuffles within segments of `width` lanes (a power of two up to 32). A source lane outside
// the caller's segment (or past the warp) gives the caller its own value.
template <class T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
  int lane = kiso::sim::lane_id();
  return kiso::sim::shfl_any(v, (lane & ~(width - 1)) + (src & (width - 1)));
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  int lane = kiso::sim::lane_id(), seg = lane % width;
  return kiso::sim::shfl_any(v, seg + int(delta) < width ? lane + int(delta) : lane);
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  int lane = kiso::sim::lane_id(), seg = lane % width;
  return kiso::sim::shfl_any(v, seg >= int(delta) ? lane - int(delta) : lane);
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  int lane = kiso::sim::lane_id(), src = lane ^ mask;
  return kiso::sim::shfl_any(v, (src & ~(width - 1)) == (lane & ~(width - 1)) ? src : lane);
}
inline unsigned __ballot_sync(unsigned, int p) { return kiso::sim::warp_ballot(p != 0); }
inline int __any_sync(unsigned m, int p) { return __ballot_sync(m, p) != 0; }
inline int __all_sync(unsigned m, int p) { return __ballot_sync(m, !p) == 0; }

// Atomics: one fiber runs at a time, so a read-modify-write is atomic. They return the old value.
template <class T>
T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T>
T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <class T>
T atomicMax(T* p, T v) { T old = *p; *p = old < v ? v : old; return old; }
template <class T>
T atomicMin(T* p, T v) { T old = *p; *p = v < old ? v : old; return old; }
template <class T>
T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T>
T atomicCAS(T* p, T compare, T v) { T old = *p; if (old == compare) *p = v; return old; }

// `extern __shared__ T name[]` under nvcc; a pointer to the block's buffer here.
#define KISO_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::kiso::sim::dynamic_shared())

#endif  // KISO_SIM_NO_DIALECT
