// tensor/profile.cpp — the op profiler's bookkeeping (see profile.h): one thread-local pointer
// to the profile being recorded, the phase, and whether an op scope is already open.
#include "tensor/profile.h"

#include <chrono>

#include "base/check.h"
#include "cuda/runtime.h"
#include "tensor/tensor.h"

namespace kiso {

namespace {

// The recording state of this thread. Only the thread that created the Profiling guard records.
struct Recording {
  Profile* profile = nullptr;
  ProfilePhase phase = ProfilePhase::forward;
  bool in_op = false;  // an outermost OpScope is open: inner ones are part of its time
};
thread_local Recording recording_state;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string to_string(ProfilePhase phase) {
  switch (phase) {
    case ProfilePhase::forward: return "forward";
    case ProfilePhase::backward: return "backward";
    case ProfilePhase::optimizer: return "optimizer";
  }
  return "?";
}

double Profile::seconds_in_ops() const {
  double s = 0;
  for (const auto& [key, row] : ops) s += row.seconds;
  return s;
}

Profiling::Profiling(Profile& profile) {
  check(recording_state.profile == nullptr, "Profiling", "a profile is already being recorded on this thread");
  recording_state.profile = &profile;
  start_ = now_seconds();
}

Profiling::~Profiling() {
  recording_state.profile->seconds += now_seconds() - start_;
  recording_state.profile = nullptr;
}

ProfilePhaseScope::ProfilePhaseScope(ProfilePhase phase) : previous_(recording_state.phase) {
  recording_state.phase = phase;
}
ProfilePhaseScope::~ProfilePhaseScope() { recording_state.phase = previous_; }

bool OpScope::recording() { return recording_state.profile != nullptr && !recording_state.in_op; }

void OpScope::start() {
  active_ = true;
  recording_state.in_op = true;
  allocations_at_start_ = recording_state.profile->allocations;
  allocated_at_start_ = recording_state.profile->allocated_bytes;
  start_ = now_seconds();
}

void OpScope::count_bytes(const Tensor& t) {
  if (t.defined()) {
    bytes_ += double(t.numel()) * double(dtype_size(t.dtype()));
    on_cuda_ = on_cuda_ || t.is_cuda();
  }
}

OpScope::~OpScope() {
  if (!active_) return;
  // A GPU runs launches asynchronously: the host returns from an op before its kernels are done.
  // Waiting for them here charges each op its own kernels' time (and the step, serialised, the
  // sum of them plus one wait per op: a profiled step is slower than an unprofiled one).
  if (on_cuda_) cuda::synchronize();
  double seconds = now_seconds() - start_;
  Profile& p = *recording_state.profile;
  OpProfile& row = p.ops[{op_, recording_state.phase, detail_}];
  row.calls += 1;
  row.seconds += seconds;
  row.flops += flops_;
  double allocated = p.allocated_bytes - allocated_at_start_;
  row.bytes += bytes_ + allocated;  // the outputs are what the op allocated
  row.allocations += p.allocations - allocations_at_start_;
  row.allocated_bytes += allocated;
  recording_state.in_op = false;
}

void profile_allocation(size_t bytes) {
  if (Profile* p = recording_state.profile) {
    p->allocations += 1;
    p->allocated_bytes += double(bytes);
  }
}

}  // namespace kiso
