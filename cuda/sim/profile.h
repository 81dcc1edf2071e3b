// cuda/sim/profile.h — what the simulator measures of a launch: the memory traffic an H100 / H200
// would see (global sectors per warp request, traffic against the compulsory bytes, shared-memory
// bank conflicts), barriers, warps and occupancy. Kept apart from sim.h so that host code (tests,
// `kiso bench --op matmul`) can read profiles without the CUDA dialect's macros. The counting is
// in sim.cpp; what it is not (no caches, no timing, no registers) is said below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiso::sim {

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
// bound), divergence beyond this: the k-th global load of each lane since the last barrier is
// taken as one warp instruction (likewise global stores, shared loads, shared stores), whatever
// branch made it; lanes that skip an access are masked off, as a predicated instruction's are.

// One direction (loads or stores) of one memory space.
struct AccessCounts {
  uint64_t requests = 0;    // warp instructions
  uint64_t lane_bytes = 0;  // distinct bytes the lanes asked for (a broadcast counts once)
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
  uint64_t sector_bytes() const;         // global loads' and stores' sectors · 32: the bytes moved
  double load_sectors_per_request() const;
  double store_sectors_per_request() const;
  double global_efficiency() const;      // lane bytes / (sectors · 32), loads and stores together:
                                         // the share of the moved bytes that some lane used
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
  // One sum per kernel, in the order of each kernel's first launch.
  std::vector<KernelProfile> per_kernel() const;
  void keep(const KernelProfile& launch) { launches_.push_back(launch); }  // the simulator's, per launch

 private:
  std::vector<KernelProfile> launches_;
  ProfileRecording* outer_ = nullptr;
};

// The table KISO_SIM_PROFILE=1 prints at exit, one row per kernel: also for any list of profiles.
std::string profile_table(const std::vector<KernelProfile>& rows);

}  // namespace kiso::sim
