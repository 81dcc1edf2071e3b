// cuda/sim/sim.cpp — the scheduler behind cuda/sim/sim.h: one fiber per simulated thread,
// block and warp barriers, the warp exchange, deadlock reports. Not the CUDA dialect (sim.h).
#define KISO_SIM_NO_DIALECT
#include "cuda/sim/sim.h"

#include <ucontext.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/check.h"

// AddressSanitizer must be told when the stack changes, or it takes a fiber's stack for an
// overflow of the thread's (make debug runs the simulated tests under it).
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define KISO_SIM_ASAN 1
#endif

namespace kiso::sim {
namespace {

// Why a fiber is not runnable: it waits at a barrier, or its thread has returned.
enum class Wait { none, block_barrier, warp_barrier, done };

struct Fiber {
  ucontext_t context;
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
  ucontext_t scheduler;
  Fiber* running = nullptr;
  std::vector<unsigned char> shared;     // dynamic shared memory, (shared_bytes,)
  std::vector<uint64_t> slots;           // the warp exchange, one word per thread
  std::vector<unsigned char> blobs;      // warp_all_gather, kGatherBytes per thread
  std::exception_ptr error;              // the first exception a thread threw
  const void* scheduler_stack = nullptr;  // the calling thread's stack, for AddressSanitizer
  size_t scheduler_stack_bytes = 0;
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

// Stack switches, with the AddressSanitizer annotations when it is on. `to_fiber` runs fiber f
// from the scheduler; `to_scheduler` goes back (`dying`: the fiber has returned).
void to_fiber(Block& b, Fiber& f) {
#ifdef KISO_SIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.context.uc_stack.ss_sp, f.context.uc_stack.ss_size);
  swapcontext(&b.scheduler, &f.context);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  swapcontext(&b.scheduler, &f.context);
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
    swapcontext(&f.context, &b.scheduler);
    arrived_in_fiber(b, f);
  }
}

// A fiber's whole life: the kernel body, then back to the scheduler through uc_link.
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
  if (all_at_block)
    for (Fiber& f : b.fibers) f.wait = Wait::none;
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
    // The context was initialised by getcontext at launch (a system call, for the signal mask);
    // makecontext only resets the stack, the entry point and uc_link, so a block reuses it.
    f.context.uc_stack.ss_sp = b.stacks.get() + i * b.stack_bytes;
    f.context.uc_stack.ss_size = b.stack_bytes;
    f.context.uc_link = &b.scheduler;
    makecontext(&f.context, fiber_main, 0);
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
    getcontext(&f.context);
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
}

}  // namespace kiso::sim
