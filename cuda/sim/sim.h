// cuda/sim/sim.h — a host-side SIMT simulator, so that kiso's CUDA kernels run, unchanged, on
// a machine with no GPU (CI's). A kernel source compiled by g++ includes this header instead of
// CUDA's; `launch` then runs the grid block by block, and each block's threads as cooperative
// fibers (ucontext) on the calling OS thread:
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
// It also measures what a launch asks of the memory system (the profile, below): every load and
// store a simulated kernel makes is seen by a hook the compiler inserts, and the k-th access of
// each of the 32 lanes of a warp is taken as one warp instruction, as the hardware issues it.
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

// ---- the memory profile ----
//
// How it sees the accesses: the kernel sources (cuda/kernels/*.cu) and the tests that define
// kernels are compiled for the simulator with -fsanitize=thread, but not linked against the
// ThreadSanitizer runtime: GCC then calls __tsan_read4(addr), __tsan_write16(addr), ... before
// every load and store, and sim.cpp defines those functions itself. So no kernel source changes,
// and a build without the flag (make debug, whose AddressSanitizer excludes ThreadSanitizer's
// instrumentation) simply has no profile: profile_available() says which.
//
// Where an address lives, decided by its range: a fiber's stack or the launching thread's is a
// register or local variable (not counted); the block's dynamic shared memory, or the program's
// zero-initialised statics (where `__shared__`, a function static here, puts its arrays), is
// shared memory; everything else is global memory.
//
// What a warp instruction costs, as an H100 / H200 (sm_90) would count it:
//   global: the distinct 32-byte sectors its lanes touch. 32 lanes reading consecutive floats
//     touch 4 sectors (128 bytes, fully used); a stride of 32 floats touches 32 sectors for the
//     same 128 useful bytes.
//   shared: 32 banks of 4 bytes (bank = address / 4 mod 32). A request is served in wavefronts;
//     lanes reading different 4-byte words of one bank need one wavefront each (an n-way bank
//     conflict), lanes reading the same word share it (a broadcast). 8-byte accesses are served
//     a half-warp at a time and 16-byte ones a quarter-warp at a time, so the ideal is 1, 2 or 4
//     wavefronts.
//   compulsory: the distinct sectors read and written over the whole launch — the traffic a
//     cache as large as the data would leave (each input read once, each output written once).
// Not modelled: caches (L1 / L2 hits), timing, registers (so the occupancy below is an upper
// bound), divergence (the k-th accesses of the lanes are grouped whatever branch made them).

// One direction (loads or stores) of one memory space.
struct AccessCounts {
  uint64_t requests = 0;    // warp instructions
  uint64_t lane_bytes = 0;  // bytes the lanes asked for
  uint64_t sectors = 0;     // global: 32-byte sectors touched, summed over requests
  uint64_t wavefronts = 0;  // shared: wavefronts served, summed over requests
  uint64_t ideal_wavefronts = 0;  // shared: what they would be without bank conflicts
};

struct KernelProfile {
  const char* kernel = "";      // as spelled at KISO_LAUNCH
  uint64_t launches = 0, blocks = 0, warps = 0, threads = 0;
  unsigned threads_per_block = 0;
  uint64_t barriers = 0;        // __syncthreads passed, summed over blocks
  AccessCounts global_load, global_store, shared_load, shared_store;
  uint64_t compulsory_load_bytes = 0, compulsory_store_bytes = 0;  // distinct sectors · 32
  size_t shared_bytes_per_block = 0;  // dynamic + the span of the static shared arrays touched
  int blocks_per_sm = 0;              // what threads and shared memory allow on an sm_90 SM
  double occupancy = 0;               // blocks_per_sm · warps per block / 64

  // Derived figures, 0 when there were no requests.
  double load_sectors_per_request() const;
  double store_sectors_per_request() const;
  double global_efficiency() const;      // lane bytes / (sectors · 32), loads and stores together
  double traffic_vs_compulsory() const;  // sectors · 32 / compulsory bytes, loads and stores together
  double shared_conflict_ways() const;   // wavefronts / ideal wavefronts (1 = no bank conflicts)
  void add(const KernelProfile& other);  // sums the counts of another launch of the same kernel
};

// True when this build's kernels carry the access hooks (not under make debug).
bool profile_available();

// While one lives, every launch on this OS thread is profiled and its profile kept, in order.
class ProfileRecording {
 public:
  ProfileRecording();
  ~ProfileRecording();
  ProfileRecording(const ProfileRecording&) = delete;
  ProfileRecording& operator=(const ProfileRecording&) = delete;
  const std::vector<KernelProfile>& launches() const { return launches_; }
  // The sum over the launches whose kernel name contains `name_part` (all when empty).
  KernelProfile total(const char* name_part = "") const;
  void keep(const KernelProfile& launch) { launches_.push_back(launch); }  // the simulator's, per launch

 private:
  std::vector<KernelProfile> launches_;
  ProfileRecording* outer_ = nullptr;
};

// The table KISO_SIM_PROFILE=1 prints at exit, one row per kernel: also for any list of profiles.
std::string profile_table(const std::vector<KernelProfile>& rows);

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
