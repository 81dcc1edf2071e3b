// cuda/sim/sim.cpp — the scheduler behind cuda/sim/sim.h: one fiber per simulated thread,
// block and warp barriers, the warp exchange, deadlock reports; and the memory profile (the
// access hooks, the grouping of lanes' accesses into warp instructions, the sector and bank
// counts). Not the CUDA dialect (sim.h).
#define KISO_SIM_NO_DIALECT
#include "cuda/sim/sim.h"

#include <pthread.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "base/check.h"

// AddressSanitizer must be told when the stack changes, or it takes a fiber's stack for an
// overflow of the thread's (make debug runs the simulated tests under it; GCC says so with
// __SANITIZE_ADDRESS__, clang with __has_feature).
#if defined(__SANITIZE_ADDRESS__)
#define KISO_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KISO_SIM_ASAN 1
#endif
#endif
#ifdef KISO_SIM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

// How a fiber's stack is switched. The plain way is ucontext's swapcontext, which also saves and
// restores the signal mask: a system call on every switch, and a simulated kernel switches at
// every barrier, shuffle and return of every thread (perf: ~3/4 of a simulated test's time). On
// x86-64, kiso_sim_switch below does the same job without it: it saves the registers a called
// function must preserve (rbx, rbp, r12-r15, the SSE and x87 control words) on the current stack,
// stores the stack pointer in *save, loads `load` as the new one and restores that stack's saved
// registers; its `ret` then continues wherever the other stack last called it. Under
// AddressSanitizer, and on other processors, the plain way stays. (It knows nothing of CET
// shadow stacks, which a `ret` to another stack would trip; Debian 12's glibc never enables them.)
#if defined(__x86_64__) && !defined(KISO_SIM_ASAN)
#define KISO_SIM_FAST_SWITCH 1
extern "C" void kiso_sim_switch(void** save, void* load);
asm(R"(
    .text
    .p2align 4
    .globl kiso_sim_switch
    .type kiso_sim_switch, @function
kiso_sim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    fnstcw (%rsp)
    stmxcsr 8(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    fldcw (%rsp)
    ldmxcsr 8(%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size kiso_sim_switch, .-kiso_sim_switch
)");
#endif

// The linker's marks around the program's zero-initialised statics (.bss), where every
// function-static `__shared__` array of a simulated kernel lives.
extern "C" char __bss_start[], _end[];

namespace kiso::sim {
namespace {

// Why a fiber is not runnable: it waits at a barrier, or its thread has returned.
enum class Wait { none, block_barrier, warp_barrier, done };

struct Fiber {
#ifdef KISO_SIM_FAST_SWITCH
  void* stack_pointer = nullptr;  // where kiso_sim_switch left this fiber
#else
  ucontext_t context;
#endif
  char* stack = nullptr;  // (stack_bytes,)
  size_t stack_bytes = 0;
  ThreadPlace place;
  int linear = 0;  // x + y·Dx + z·Dx·Dy: CUDA's thread number within the block; warp = linear / 32
  Wait wait = Wait::none;
  void* asan_fake_stack = nullptr;  // AddressSanitizer's bookkeeping while the fiber is switched out
};

struct Block {
  const char* kernel = "";
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;             // (threads,)
  std::unique_ptr<char[]> stacks;        // (threads · stack_bytes,)
  size_t stack_bytes = 0;
#ifdef KISO_SIM_FAST_SWITCH
  void* scheduler_pointer = nullptr;  // the calling thread's stack while a fiber runs
#else
  ucontext_t scheduler;
#endif
  Fiber* running = nullptr;
  std::vector<unsigned char> shared;     // dynamic shared memory, (shared_bytes,)
  std::vector<uint64_t> slots;           // the warp exchange, one word per thread
  std::vector<unsigned char> blobs;      // warp_all_gather, kGatherBytes per thread
  std::exception_ptr error;              // the first exception a thread threw
  const void* scheduler_stack = nullptr;  // the calling thread's stack, for AddressSanitizer
  size_t scheduler_stack_bytes = 0;
  struct Profiling* profiling = nullptr;  // null unless this launch is profiled
};

// ---- the memory profile's bookkeeping (the counting is further down) ----

// One load or store of one lane, as the hook saw it.
struct Access {
  uintptr_t address;
  uint32_t bytes;
  bool write;
  bool shared;  // shared memory; otherwise global
};

// A profiled launch in progress: each fiber's accesses since the warp last met at a barrier, the
// address ranges that are not global memory, and the counts so far.
struct Profiling {
  KernelProfile counts;
  std::vector<std::vector<Access>> log;  // (threads,): accesses since the last barrier
  uintptr_t fiber_stacks_begin = 0, fiber_stacks_end = 0;  // locals of the simulated threads
  uintptr_t host_stack_begin = 0, host_stack_end = 0;      // the launching thread's locals
  uintptr_t places_begin = 0, places_end = 0;  // the fibers' records: threadIdx, blockIdx, ... (registers)
  uintptr_t dynamic_begin = 0, dynamic_end = 0;            // dynamic shared memory
  uintptr_t static_begin = UINTPTR_MAX, static_end = 0;    // span of static shared arrays touched
  std::unordered_set<uint64_t> sectors_read, sectors_written;  // for the compulsory bytes
};

// The block being run by this OS thread (a launch runs on its caller's thread); launches from
// several threads are serialised by g_launch_mutex, since a kernel's static shared memory is
// one copy.
thread_local Block* g_block = nullptr;
std::mutex g_launch_mutex;
size_t g_stack_bytes = 64 * 1024;

std::string describe(const Fiber& f) {
  const uint3& t = f.place.thread_idx;
  return fmt::format("thread ({}, {}, {})", t.x, t.y, t.z);
}

void fiber_main();

#ifdef KISO_SIM_FAST_SWITCH
// Where a fresh fiber's first switch lands: kiso_sim_switch's `ret` jumps here with the stack
// as a call would leave it. fiber_main never returns (its last act switches away for good).
[[noreturn]] void fiber_entry() {
  fiber_main();
  __builtin_unreachable();
}
#endif

// Makes f start at fiber_main on its own stack at its next switch.
void prepare_fiber(Block& b, Fiber& f) {
#ifdef KISO_SIM_FAST_SWITCH
  (void)b;
  // The frame kiso_sim_switch pops, top down: the return address (16-byte aligned, so that
  // fiber_entry begins with the stack a call gives), rbp, rbx, r12 .. r15 (zero), then the
  // control words, this thread's own (x87 in the low half of the first word, MXCSR in the next).
  auto top = (reinterpret_cast<uintptr_t>(f.stack) + f.stack_bytes) & ~uintptr_t(15);
  auto* frame = reinterpret_cast<uint64_t*>(top - 16) - 8;
  std::fill(frame, frame + 9, 0);
  uint16_t x87;
  uint32_t mxcsr;
  asm volatile("fnstcw %0" : "=m"(x87));
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  frame[0] = x87, frame[1] = mxcsr;
  frame[8] = reinterpret_cast<uint64_t>(&fiber_entry);
  f.stack_pointer = frame;
#else
  // The context was initialised by getcontext at launch (a system call, for the signal mask);
  // makecontext only resets the stack, the entry point and uc_link, so a block reuses it.
  f.context.uc_stack.ss_sp = f.stack;
  f.context.uc_stack.ss_size = f.stack_bytes;
  f.context.uc_link = &b.scheduler;
  makecontext(&f.context, fiber_main, 0);
#endif
}

void switch_to_fiber(Block& b, Fiber& f) {
#ifdef KISO_SIM_FAST_SWITCH
  kiso_sim_switch(&b.scheduler_pointer, f.stack_pointer);
#else
  swapcontext(&b.scheduler, &f.context);
#endif
}

void switch_to_scheduler(Block& b, Fiber& f) {
#ifdef KISO_SIM_FAST_SWITCH
  kiso_sim_switch(&f.stack_pointer, b.scheduler_pointer);
#else
  swapcontext(&f.context, &b.scheduler);
#endif
}

// Stack switches, with the AddressSanitizer annotations when it is on. `to_fiber` runs fiber f
// from the scheduler; `to_scheduler` goes back (`dying`: the fiber has returned).
void to_fiber(Block& b, Fiber& f) {
#ifdef KISO_SIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack, f.stack_bytes);
  switch_to_fiber(b, f);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  switch_to_fiber(b, f);
#endif
}

void arrived_in_fiber([[maybe_unused]] Block& b, [[maybe_unused]] Fiber& f) {
#ifdef KISO_SIM_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake_stack, &b.scheduler_stack, &b.scheduler_stack_bytes);
#endif
}

void to_scheduler(Block& b, Fiber& f, [[maybe_unused]] bool dying) {
#ifdef KISO_SIM_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &f.asan_fake_stack, b.scheduler_stack, b.scheduler_stack_bytes);
#endif
  if (!dying) {
    switch_to_scheduler(b, f);
    arrived_in_fiber(b, f);
    return;
  }
#ifdef KISO_SIM_FAST_SWITCH
  switch_to_scheduler(b, f);  // for good: the scheduler never switches back to a returned fiber
#endif
  // (ucontext: returning from fiber_main goes to the scheduler through uc_link.)
}

// A fiber's whole life: the kernel body, then back to the scheduler.
void fiber_main() {
  Block& b = *g_block;
  Fiber& f = *b.running;
  arrived_in_fiber(b, f);
  try {
    (*b.body)();
  } catch (...) {
    if (!b.error) b.error = std::current_exception();
  }
  f.wait = Wait::done;
  to_scheduler(b, f, /*dying=*/true);
}

void yield(Wait why) {
  Block& b = *g_block;
  Fiber& f = *b.running;
  f.wait = why;
  to_scheduler(b, f, /*dying=*/false);
}

// ---- the memory profile: from lanes' accesses to warp instructions ----

constexpr uint64_t kSectorBytes = 32;  // the unit global memory moves in
constexpr int kBanks = 32;             // shared memory banks, 4 bytes wide

// One warp instruction's lanes, all global or all shared, all loads or all stores.
using Lanes = std::vector<const Access*>;

// The distinct bytes the lanes ask for: a number every lane reads (a broadcast) counts once.
uint64_t distinct_bytes(const Lanes& lanes) {
  std::vector<std::pair<uintptr_t, uintptr_t>> spans;  // [begin, end)
  for (const Access* a : lanes) spans.emplace_back(a->address, a->address + a->bytes);
  std::sort(spans.begin(), spans.end());
  uint64_t bytes = 0;
  uintptr_t covered = 0;  // the end of what has been counted
  for (auto [begin, end] : spans) {
    begin = std::max(begin, covered);
    if (end > begin) bytes += end - begin, covered = end;
  }
  return bytes;
}

// Global: the distinct 32-byte sectors the lanes touch.
void count_global(Profiling& p, const Lanes& lanes, bool write) {
  std::vector<uint64_t> sectors;
  uint64_t bytes = distinct_bytes(lanes);
  for (const Access* a : lanes) {
    for (uint64_t s = a->address / kSectorBytes; s <= (a->address + a->bytes - 1) / kSectorBytes; ++s)
      sectors.push_back(s);
  }
  std::sort(sectors.begin(), sectors.end());
  sectors.erase(std::unique(sectors.begin(), sectors.end()), sectors.end());
  AccessCounts& c = write ? p.counts.global_store : p.counts.global_load;
  c.requests++, c.lane_bytes += bytes, c.sectors += sectors.size();
  (write ? p.sectors_written : p.sectors_read).insert(sectors.begin(), sectors.end());
}

// Shared: lanes are served in phases (the whole warp for accesses up to 4 bytes, half-warps for
// 8, quarter-warps for 16); within a phase, a bank serves one 4-byte word a wavefront, so the
// phase takes as many wavefronts as the busiest bank has distinct words. Without conflicts it
// would take ⌈distinct words / 32⌉ (at least 1).
void count_shared(Profiling& p, const Lanes& lanes, const std::vector<int>& lane_of, bool write) {
  uint32_t widest = 0;
  uint64_t bytes = distinct_bytes(lanes);
  for (const Access* a : lanes) widest = std::max(widest, a->bytes);
  int lanes_per_phase = widest <= 4 ? 32 : widest <= 8 ? 16 : 8;
  AccessCounts& c = write ? p.counts.shared_store : p.counts.shared_load;
  c.requests++, c.lane_bytes += bytes;
  for (int phase = 0; phase < kWarpSize / lanes_per_phase; ++phase) {
    std::vector<uint64_t> words;
    for (size_t i = 0; i < lanes.size(); ++i) {
      if (lane_of[i] / lanes_per_phase != phase) continue;
      const Access* a = lanes[i];
      for (uint64_t w = a->address / 4; w <= (a->address + a->bytes - 1) / 4; ++w) words.push_back(w);
    }
    if (words.empty()) continue;
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    int per_bank[kBanks] = {};
    for (uint64_t w : words) per_bank[w % kBanks]++;
    c.wavefronts += uint64_t(*std::max_element(per_bank, per_bank + kBanks));
    c.ideal_wavefronts += (words.size() + kBanks - 1) / kBanks;
  }
}

// Called when every fiber waits at a barrier or has returned: each lane's log since the last
// barrier is complete. A warp instruction is the k-th access of one kind (global or shared, load
// or store) of each lane: the k-th global load of lane 0 goes with the k-th global load of lane
// 5. Counting per kind keeps the lanes aligned where some of them skip an access that the others
// make (a store only even lanes do, a predicated load at a ragged edge), as the hardware issues
// the instruction once for the warp with those lanes masked off.
void count_accesses(Block& b) {
  Profiling& p = *b.profiling;
  int n = int(b.fibers.size());
  Lanes group;
  std::vector<int> lane_of;
  for (int w0 = 0; w0 < n; w0 += kWarpSize) {
    int w1 = std::min(n, w0 + kWarpSize);
    for (int kind = 0; kind < 4; ++kind) {  // (shared?, write?)
      bool shared = kind & 1, write = kind & 2;
      size_t cursor[kWarpSize] = {};  // each lane's next unread entry of its log
      while (true) {
        group.clear(), lane_of.clear();
        for (int i = w0; i < w1; ++i) {
          const std::vector<Access>& log = p.log[size_t(i)];
          size_t& c = cursor[i - w0];
          while (c < log.size() && (log[c].shared != shared || log[c].write != write)) ++c;
          if (c < log.size()) group.push_back(&log[c++]), lane_of.push_back(i - w0);
        }
        if (group.empty()) break;
        if (shared)
          count_shared(p, group, lane_of, write);
        else
          count_global(p, group, write);
      }
    }
    for (int i = w0; i < w1; ++i) p.log[size_t(i)].clear();
  }
}

#ifdef KISO_SIM_PROFILED
// The hook's work: drop locals, classify the rest, log it for the running lane.
void record(const void* where, size_t bytes, bool write) {
  Block* b = g_block;
  if (b == nullptr || b->profiling == nullptr || b->running == nullptr || bytes == 0) return;
  Profiling& p = *b->profiling;
  uintptr_t a = uintptr_t(where);
  if ((a >= p.fiber_stacks_begin && a < p.fiber_stacks_end) || (a >= p.host_stack_begin && a < p.host_stack_end) ||
      (a >= p.places_begin && a < p.places_end))
    return;
  bool shared = a >= p.dynamic_begin && a < p.dynamic_end;
  if (!shared && a >= uintptr_t(__bss_start) && a < uintptr_t(_end)) {
    shared = true;
    p.static_begin = std::min(p.static_begin, a), p.static_end = std::max(p.static_end, a + bytes);
  }
  p.log[size_t(b->running->linear)].push_back({a, uint32_t(bytes), write, shared});
}
#endif

// After a pass in which every fiber ran until it waited or returned: release the barriers that
// every live thread has reached. Returns false when nothing could be released.
bool release_barriers(Block& b) {
  bool released = false;
  int n = int(b.fibers.size());
  for (int w0 = 0; w0 < n; w0 += kWarpSize) {
    int w1 = std::min(n, w0 + kWarpSize), live = 0, waiting = 0;
    for (int i = w0; i < w1; ++i) {
      live += b.fibers[size_t(i)].wait != Wait::done;
      waiting += b.fibers[size_t(i)].wait == Wait::warp_barrier;
    }
    if (waiting > 0 && waiting == live) {
      for (int i = w0; i < w1; ++i)
        if (b.fibers[size_t(i)].wait == Wait::warp_barrier) b.fibers[size_t(i)].wait = Wait::none;
      released = true;
    }
  }
  if (released) return true;
  bool all_at_block = std::all_of(b.fibers.begin(), b.fibers.end(),
                                  [](const Fiber& f) { return f.wait == Wait::block_barrier; });
  if (all_at_block) {
    for (Fiber& f : b.fibers) f.wait = Wait::none;
    if (b.profiling) b.profiling->counts.barriers++;
  }
  return all_at_block;
}

[[noreturn]] void deadlock(const Block& b) {
  int at_block = 0, at_warp = 0, done = 0;
  const Fiber *first_block = nullptr, *first_warp = nullptr, *first_done = nullptr;
  for (const Fiber& f : b.fibers) {
    if (f.wait == Wait::block_barrier) at_block++, first_block = first_block ? first_block : &f;
    if (f.wait == Wait::warp_barrier) at_warp++, first_warp = first_warp ? first_warp : &f;
    if (f.wait == Wait::done) done++, first_done = first_done ? first_done : &f;
  }
  const uint3& bi = b.fibers.front().place.block_idx;
  std::string why;
  if (at_block > 0) why += fmt::format("; {} wait at __syncthreads (first: {})", at_block, describe(*first_block));
  if (at_warp > 0) why += fmt::format("; {} wait at a warp operation (first: {})", at_warp, describe(*first_warp));
  if (done > 0) why += fmt::format("; {} returned (first: {})", done, describe(*first_done));
  fail(b.kernel, "deadlock in block ({}, {}, {}) of {} threads: a barrier that not every live thread reaches{}",
       bi.x, bi.y, bi.z, b.fibers.size(), why);
}

void run_block(Block& b) {
  for (size_t i = 0; i < b.fibers.size(); ++i) {
    Fiber& f = b.fibers[i];
    f.stack = b.stacks.get() + i * b.stack_bytes;
    f.stack_bytes = b.stack_bytes;
    prepare_fiber(b, f);
    f.wait = Wait::none;
  }
  std::fill(b.shared.begin(), b.shared.end(), 0xff);
  while (true) {
    for (Fiber& f : b.fibers) {
      if (f.wait != Wait::none) continue;
      b.running = &f;
      to_fiber(b, f);
      b.running = nullptr;
      if (b.error) return;
    }
    if (b.profiling) count_accesses(b);
    if (std::all_of(b.fibers.begin(), b.fibers.end(), [](const Fiber& f) { return f.wait == Wait::done; })) return;
    if (!release_barriers(b)) deadlock(b);
  }
}

Fiber& running_fiber(const char* what) {
  check(g_block != nullptr && g_block->running != nullptr, "cuda sim", "{} outside a simulated kernel launch", what);
  return *g_block->running;
}

}  // namespace

const ThreadPlace& here() { return running_fiber("threadIdx / blockIdx / blockDim / gridDim read").place; }

void set_stack_bytes(size_t bytes) {
  check(bytes >= 16 * 1024, "cuda sim", "fiber stacks need at least 16384 bytes, got {}", bytes);
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  g_stack_bytes = bytes;
}

void syncthreads() {
  running_fiber("__syncthreads");
  yield(Wait::block_barrier);
}

void syncwarp() {
  running_fiber("__syncwarp");
  yield(Wait::warp_barrier);
}

void* dynamic_shared() {
  running_fiber("dynamic shared memory used");
  return g_block->shared.empty() ? nullptr : g_block->shared.data();
}

int lane_id() { return running_fiber("a lane id asked for").linear % kWarpSize; }

uint64_t warp_exchange(uint64_t bits, int src) {
  Fiber& f = running_fiber("a warp shuffle");
  Block& b = *g_block;
  int warp0 = f.linear / kWarpSize * kWarpSize;
  b.slots[size_t(f.linear)] = bits;
  yield(Wait::warp_barrier);  // every live lane has published
  uint64_t out = bits;
  int from = warp0 + src;
  if (src >= 0 && src < kWarpSize && from < int(b.fibers.size()) && b.fibers[size_t(from)].wait != Wait::done)
    out = b.slots[size_t(from)];
  yield(Wait::warp_barrier);  // every live lane has read: the slots may be written again
  return out;
}

unsigned warp_ballot(bool predicate) {
  Fiber& f = running_fiber("a warp vote");
  Block& b = *g_block;
  int warp0 = f.linear / kWarpSize * kWarpSize;
  int warp1 = std::min(int(b.fibers.size()), warp0 + kWarpSize);
  b.slots[size_t(f.linear)] = predicate;
  yield(Wait::warp_barrier);
  unsigned mask = 0;
  for (int i = warp0; i < warp1; ++i)
    if (b.fibers[size_t(i)].wait != Wait::done && b.slots[size_t(i)]) mask |= 1u << (i - warp0);
  yield(Wait::warp_barrier);
  return mask;
}

// ---- the memory profile: launches, recordings, the table ----

namespace {

thread_local ProfileRecording* g_recording = nullptr;  // the innermost recording on this thread

bool profile_env() {
  static const bool on = [] {
    const char* v = std::getenv("KISO_SIM_PROFILE");
    return v != nullptr && *v != '\0' && std::string(v) != "0";
  }();
  return on;
}

// The launching thread's stack, [begin, end): what kernel code reads there (the launch's
// arguments) is host data, not device memory.
std::pair<uintptr_t, uintptr_t> host_stack() {
  thread_local std::pair<uintptr_t, uintptr_t> range = [] {
    pthread_attr_t attr;
    void* base = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &base, &size);
      pthread_attr_destroy(&attr);
    }
    return std::pair{uintptr_t(base), uintptr_t(base) + size};
  }();
  return range;
}

std::unique_ptr<Profiling> start_profile(Block& b, const char* kernel, dim3 grid, dim3 block, size_t shared_bytes) {
  auto p = std::make_unique<Profiling>();
  KernelProfile& c = p->counts;
  c.kernel = kernel;
  c.launches = 1;
  c.blocks = uint64_t(grid.x) * grid.y * grid.z;
  c.threads_per_block = block.x * block.y * block.z;
  c.threads = c.blocks * c.threads_per_block;
  c.warps = c.blocks * ((c.threads_per_block + kWarpSize - 1) / kWarpSize);
  p->log.resize(c.threads_per_block);
  p->fiber_stacks_begin = uintptr_t(b.stacks.get());
  p->fiber_stacks_end = p->fiber_stacks_begin + c.threads_per_block * b.stack_bytes;
  std::tie(p->host_stack_begin, p->host_stack_end) = host_stack();
  p->places_begin = uintptr_t(b.fibers.data());
  p->places_end = uintptr_t(b.fibers.data() + b.fibers.size());
  p->dynamic_begin = uintptr_t(b.shared.data());
  p->dynamic_end = p->dynamic_begin + shared_bytes;
  return p;
}

// An sm_90 SM (H100, H200) holds at most 2048 threads (64 warps) and 32 blocks, and 228 KiB of
// shared memory, of which a block may use 227 KiB and the system reserves 1 KiB per block.
// Registers are not simulated, so this is what threads and shared memory allow: an upper bound.
constexpr int kSmThreads = 2048, kSmWarps = 64, kSmBlocks = 32;
constexpr size_t kSmSharedBytes = 228 * 1024, kSharedReservedPerBlock = 1024;

// Collects every profile KISO_SIM_PROFILE=1 asks for, by kernel, and prints them at exit.
struct EnvProfiles {
  std::mutex mutex;
  std::map<std::string, KernelProfile> by_kernel;
};
EnvProfiles& env_profiles() {
  static EnvProfiles* profiles = [] {
    std::atexit([] {
      EnvProfiles& e = env_profiles();
      std::vector<KernelProfile> rows;
      for (auto& [name, row] : e.by_kernel) rows.push_back(row);
      std::fputs(("cuda sim profile (KISO_SIM_PROFILE=1), one row per kernel:\n" + profile_table(rows)).c_str(),
                 stderr);
    });
    return new EnvProfiles;  // never destroyed: the exit handler reads it
  }();
  return *profiles;
}

void finish_profile(Profiling& p, size_t dynamic_bytes) {
  KernelProfile& c = p.counts;
  c.compulsory_load_bytes = p.sectors_read.size() * kSectorBytes;
  c.compulsory_store_bytes = p.sectors_written.size() * kSectorBytes;
  c.shared_bytes_per_block = dynamic_bytes + (p.static_end > p.static_begin ? p.static_end - p.static_begin : 0);
  int warps_per_block = int((c.threads_per_block + kWarpSize - 1) / kWarpSize);
  int by_threads = std::min(kSmThreads / (warps_per_block * kWarpSize), kSmWarps / warps_per_block);
  int by_shared = c.shared_bytes_per_block == 0
                      ? kSmBlocks
                      : int(kSmSharedBytes / (c.shared_bytes_per_block + kSharedReservedPerBlock));
  c.blocks_per_sm = std::min({kSmBlocks, by_threads, by_shared});
  c.occupancy = double(c.blocks_per_sm * warps_per_block) / kSmWarps;
  if (g_recording != nullptr) g_recording->keep(c);
  if (profile_env()) {
    EnvProfiles& e = env_profiles();
    std::lock_guard<std::mutex> lock(e.mutex);
    auto [it, fresh] = e.by_kernel.try_emplace(c.kernel, c);
    if (!fresh) it->second.add(c);
  }
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

double KernelProfile::load_sectors_per_request() const {
  return ratio(double(global_load.sectors), double(global_load.requests));
}
double KernelProfile::store_sectors_per_request() const {
  return ratio(double(global_store.sectors), double(global_store.requests));
}
uint64_t KernelProfile::sector_bytes() const { return (global_load.sectors + global_store.sectors) * kSectorBytes; }
double KernelProfile::global_efficiency() const {
  return ratio(double(global_load.lane_bytes + global_store.lane_bytes), double(sector_bytes()));
}
double KernelProfile::traffic_vs_compulsory() const {
  return ratio(double(sector_bytes()), double(compulsory_load_bytes + compulsory_store_bytes));
}
double KernelProfile::shared_conflict_ways() const {
  return ratio(double(shared_load.wavefronts + shared_store.wavefronts),
               double(shared_load.ideal_wavefronts + shared_store.ideal_wavefronts));
}

void KernelProfile::add(const KernelProfile& o) {
  auto sum = [](AccessCounts& a, const AccessCounts& b) {
    a.requests += b.requests, a.lane_bytes += b.lane_bytes, a.sectors += b.sectors;
    a.wavefronts += b.wavefronts, a.ideal_wavefronts += b.ideal_wavefronts;
  };
  launches += o.launches, blocks += o.blocks, warps += o.warps, threads += o.threads, barriers += o.barriers;
  sum(global_load, o.global_load), sum(global_store, o.global_store);
  sum(shared_load, o.shared_load), sum(shared_store, o.shared_store);
  compulsory_load_bytes += o.compulsory_load_bytes, compulsory_store_bytes += o.compulsory_store_bytes;
  // Per-block figures: the launches may differ; keep the largest block's.
  if (o.threads_per_block > threads_per_block || o.shared_bytes_per_block > shared_bytes_per_block) {
    threads_per_block = std::max(threads_per_block, o.threads_per_block);
    shared_bytes_per_block = std::max(shared_bytes_per_block, o.shared_bytes_per_block);
    blocks_per_sm = o.blocks_per_sm, occupancy = o.occupancy;
  }
}

bool profile_available() {
#ifdef KISO_SIM_PROFILED
  return true;
#else
  return false;
#endif
}

ProfileRecording::ProfileRecording() : outer_(g_recording) { g_recording = this; }
ProfileRecording::~ProfileRecording() { g_recording = outer_; }

KernelProfile ProfileRecording::total(const char* name_part) const {
  KernelProfile sum;
  sum.kernel = name_part;
  for (const KernelProfile& p : launches_)
    if (std::string_view(p.kernel).find(name_part) != std::string_view::npos) {
      if (sum.launches == 0) {
        sum = p;
        sum.kernel = name_part;
      } else {
        sum.add(p);
      }
    }
  return sum;
}

std::vector<KernelProfile> ProfileRecording::per_kernel() const {
  std::vector<KernelProfile> sums;
  for (const KernelProfile& p : launches_) {
    auto same = std::find_if(sums.begin(), sums.end(), [&](const KernelProfile& s) {
      return std::string_view(s.kernel) == p.kernel;
    });
    if (same == sums.end())
      sums.push_back(p);
    else
      same->add(p);
  }
  return sums;
}

std::string profile_table(const std::vector<KernelProfile>& rows) {
  std::string out = fmt::format("{:<36} {:>6} {:>8} {:>5} {:>5} {:>9} {:>6} {:>9} {:>6} {:>6} {:>7} {:>9} {:>6} {:>8}\n",
                                "kernel", "launch", "blocks", "thr", "occ", "ld req", "sec/rq", "st req", "sec/rq",
                                "effic", "traffic", "shared rq", "ways", "barriers");
  for (const KernelProfile& p : rows)
    out += fmt::format("{:<36} {:>6} {:>8} {:>5} {:>4.0f}% {:>9} {:>6.2f} {:>9} {:>6.2f} {:>5.0f}% {:>6.2f}x {:>9} {:>6.2f} {:>8}\n",
                       p.kernel, p.launches, p.blocks, p.threads_per_block, 100 * p.occupancy,
                       p.global_load.requests, p.load_sectors_per_request(), p.global_store.requests,
                       p.store_sectors_per_request(), 100 * p.global_efficiency(), p.traffic_vs_compulsory(),
                       p.shared_load.requests + p.shared_store.requests, p.shared_conflict_ways(), p.barriers);
  out += "  occ: warps resident per SM / 64 by threads and shared memory (registers not simulated); sec/rq: 32-byte\n"
         "  sectors per warp request (4 = a coalesced float per lane); effic: bytes the lanes asked for / sector bytes;\n"
         "  traffic: sector bytes / compulsory (distinct sectors: each input read once, each output written once);\n"
         "  ways: shared-memory wavefronts / the conflict-free number (1 = no bank conflicts).\n";
  return out;
}

void warp_all_gather(const void* mine, void* all, size_t bytes) {
  Fiber& f = running_fiber("a warp gather");
  check(bytes <= kGatherBytes, "cuda sim", "warp_all_gather of {} bytes a lane; at most {}", bytes, kGatherBytes);
  Block& b = *g_block;
  int warp0 = f.linear / kWarpSize * kWarpSize;
  std::memcpy(&b.blobs[size_t(f.linear) * kGatherBytes], mine, bytes);
  yield(Wait::warp_barrier);  // every live lane has published
  auto* out = static_cast<unsigned char*>(all);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    int from = warp0 + lane;
    bool live = from < int(b.fibers.size()) && b.fibers[size_t(from)].wait != Wait::done;
    if (live)
      std::memcpy(out + size_t(lane) * bytes, &b.blobs[size_t(from) * kGatherBytes], bytes);
    else
      std::memset(out + size_t(lane) * bytes, 0, bytes);
  }
  yield(Wait::warp_barrier);  // every live lane has read
}

void launch(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body) {
  // CUDA's limits for compute capability 9.0: at most 1024 threads a block, 64 in z; a grid of
  // up to 2^31 - 1 blocks in x and 65535 in y and z; 48 KiB of dynamic shared memory without
  // cudaFuncSetAttribute.
  uint64_t threads = uint64_t(block.x) * block.y * block.z;
  check(threads >= 1 && threads <= 1024 && block.z <= 64, kernel,
        "a block of ({}, {}, {}) threads; expected 1 to 1024 threads, at most 64 in z", block.x, block.y, block.z);
  check(grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 2147483647u && grid.y <= 65535 && grid.z <= 65535,
        kernel, "a grid of ({}, {}, {}) blocks; expected 1..2^31-1 in x, 1..65535 in y and z", grid.x, grid.y, grid.z);
  check(shared_bytes <= 48 * 1024, kernel, "{} bytes of dynamic shared memory; at most 49152", shared_bytes);
  check(g_block == nullptr || g_block->running == nullptr, kernel, "a launch from inside a simulated kernel");

  std::lock_guard<std::mutex> lock(g_launch_mutex);
  Block b;
  b.kernel = kernel;
  b.body = &body;
  b.fibers.resize(threads);
  b.stack_bytes = g_stack_bytes;
  b.stacks.reset(new char[threads * b.stack_bytes]);
  b.shared.resize(shared_bytes);
  b.slots.resize(threads);
  b.blobs.resize(threads * kGatherBytes);
  for (size_t i = 0; i < threads; ++i) {
    Fiber& f = b.fibers[i];
    f.linear = int(i);
    f.place.thread_idx =
        uint3(unsigned(i % block.x), unsigned(i / block.x % block.y), unsigned(i / (block.x * block.y)));
    f.place.block_dim = block;
    f.place.grid_dim = grid;
#ifndef KISO_SIM_FAST_SWITCH
    getcontext(&f.context);
#endif
  }
  std::unique_ptr<Profiling> profiling;
  if (g_recording != nullptr || profile_env()) {
    profiling = start_profile(b, kernel, grid, block, shared_bytes);
    b.profiling = profiling.get();
  }
  struct Reset {
    ~Reset() { g_block = nullptr; }
  } reset;
  g_block = &b;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        for (Fiber& f : b.fibers) f.place.block_idx = uint3(x, y, z);
        run_block(b);
        if (b.error) std::rethrow_exception(b.error);
      }
  if (profiling) finish_profile(*profiling, shared_bytes);
}

// ---- the access hooks ----
// GCC's -fsanitize=thread instrumentation calls these before every load and store of the code
// compiled with it (the simulated kernels); kiso defines them instead of linking ThreadSanitizer's
// runtime. Defined only in builds whose kernels are instrumented (the Makefile's KISO_SIM_PROFILED).
#ifdef KISO_SIM_PROFILED
extern "C" {
void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
#define KISO_SIM_HOOKS(N)                                                       \
  void __tsan_read##N(void* p) { record(p, N, false); }                         \
  void __tsan_write##N(void* p) { record(p, N, true); }                         \
  void __tsan_unaligned_read##N(void* p) { record(p, N, false); }               \
  void __tsan_unaligned_write##N(void* p) { record(p, N, true); }               \
  void __tsan_volatile_read##N(void* p) { record(p, N, false); }                \
  void __tsan_volatile_write##N(void* p) { record(p, N, true); }                \
  void __tsan_unaligned_volatile_read##N(void* p) { record(p, N, false); }      \
  void __tsan_unaligned_volatile_write##N(void* p) { record(p, N, true); }
KISO_SIM_HOOKS(1)
KISO_SIM_HOOKS(2)
KISO_SIM_HOOKS(4)
KISO_SIM_HOOKS(8)
KISO_SIM_HOOKS(16)
#undef KISO_SIM_HOOKS
void __tsan_read_range(void* p, unsigned long n) { record(p, n, false); }
void __tsan_write_range(void* p, unsigned long n) { record(p, n, true); }
}
#endif

}  // namespace kiso::sim
