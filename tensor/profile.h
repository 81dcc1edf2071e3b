// tensor/profile.h — where a step's time goes: a wall-clock profiler of kiso's ops.
//
// What it is: every op of tensor/ops.h opens an OpScope as its first line. While a Profile is
// being recorded (a Profiling guard lives on the calling thread), each scope adds its wall time,
// its bytes moved and, for matmul, its FLOPs to one row of the profile, keyed by (op, phase,
// detail); every Storage allocation made meanwhile is counted too. Only the outermost scope
// counts: an op that calls another op (sum_to calls sum) is charged once, so the rows add up to
// the time spent inside ops, and the rest of a step is "outside ops" (autograd's bookkeeping,
// the model's glue code, the caller's loop).
// The phase says which part of a training step an op ran in: forward (the default), backward
// (autograd/variable.cpp sets it while backward() runs) or optimizer (set by the caller around
// the optimizer step, e.g. train/bench.cpp).
// On Device::cuda a recorded op waits for the device before its clock stops, so each op is
// charged its own kernels' time (the profiled step runs serialised, slower than an unprofiled one).
// What it is not: a sampling profiler (perf shows what happens inside an op), thread-safe across
// callers (only the thread that started the recording is recorded; ops called from other
// threads are not), or free: a scope costs two clock reads, some 50 ns, when recording and one
// thread-local load when not.
// Used by `kiso bench --profile` (train/bench.cpp prints it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace kiso {

class Tensor;

enum class ProfilePhase { forward, backward, optimizer };
std::string to_string(ProfilePhase phase);  // "forward", "backward", "optimizer"

// One row: all the calls of one op in one phase (with one detail, e.g. a matmul's shape).
struct OpProfile {
  int64_t calls = 0;
  double seconds = 0;
  double flops = 0;           // floating-point operations (matmul only; 0 elsewhere)
  double bytes = 0;           // bytes read from the inputs and written to new outputs
  int64_t allocations = 0;    // Storage allocations made inside the op
  double allocated_bytes = 0;
};

struct Profile {
  using Key = std::tuple<std::string, ProfilePhase, std::string>;  // (op, phase, detail)
  std::map<Key, OpProfile> ops;
  int64_t allocations = 0;  // every Storage allocation while recording, inside ops or not
  double allocated_bytes = 0;
  double seconds = 0;       // wall time between the Profiling guard's start and stop

  double seconds_in_ops() const;  // Σ ops' seconds (outermost scopes only)
};

// Records into `profile` on this thread while it lives (guards do not nest: a second one throws).
class Profiling {
 public:
  explicit Profiling(Profile& profile);
  ~Profiling();
  Profiling(const Profiling&) = delete;
  Profiling& operator=(const Profiling&) = delete;

 private:
  double start_;
};

// Sets the phase of the ops called while it lives (nested scopes restore the outer phase).
class ProfilePhaseScope {
 public:
  explicit ProfilePhaseScope(ProfilePhase phase);
  ~ProfilePhaseScope();
  ProfilePhaseScope(const ProfilePhaseScope&) = delete;
  ProfilePhaseScope& operator=(const ProfilePhaseScope&) = delete;

 private:
  ProfilePhase previous_;
};

// The first line of every op: OpScope scope("add", a, b) times the op and counts the bytes of
// the tensors named (its inputs; in-place ops name what they read and write) plus the bytes
// allocated inside (its outputs). matmul sets flops and a detail (its shape) as well.
class OpScope {
 public:
  template <class... Tensors> explicit OpScope(const char* op, const Tensors&... inputs) : op_(op) {
    if (recording()) {
      start();
      (count_bytes(inputs), ...);
    }
  }
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

  // Only when the scope is recorded do these cost anything; `detail` is called lazily.
  void set_flops(double flops) { flops_ = flops; }
  void add_bytes(double bytes) { bytes_ += bytes; }  // traffic the tensors named cannot show
  template <class F> void set_detail(F make_detail) {
    if (active_) detail_ = make_detail();
  }

 private:
  static bool recording();  // a Profile is being recorded on this thread, and no scope is open
  void start();
  void count_bytes(const Tensor& t);

  const char* op_;
  bool active_ = false;
  bool on_cuda_ = false;  // an input is on Device::cuda: wait for the device before the clock stops
  double start_ = 0, flops_ = 0, bytes_ = 0;
  int64_t allocations_at_start_ = 0;
  double allocated_at_start_ = 0;
  std::string detail_;
};

// Called by Storage: counts an allocation into the profile being recorded, if any.
void profile_allocation(size_t bytes);

}  // namespace kiso
