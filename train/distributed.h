// train/distributed.h — data parallelism: N processes (ranks) train one model together.
//
// One optimizer step whose global batch is M = grad_accum micro-batches, on N ranks (N divides M):
//   rank r takes micro-batches m = r·M/N .. (r+1)·M/N − 1 of the step; micro-batch m is the
//     loader's batch k = step·M + m, a pure function of (seed, k), with the dropout masks of
//     stream k, so a step's batches are the same whatever N is
//   forward and backward of each, its loss divided by M; each micro-batch's gradient is formed
//     whole, then added to the rank's sum (StepGradients)
//   all-reduce (sum) of every gradient over the ranks: each now holds Σ over all M micro-batches,
//     the gradient one process accumulates over the same M micro-batches
//   clip, AdamW: the same numbers on every rank, so the weights stay the same everywhere
// Rank 0 alone validates, logs and writes checkpoints (train/loop.cpp); the others compute.
//
// Same losses as one process: for N = 2 each gradient is g_0 + g_1 in both (the single process
// adds micro-batch 1's whole gradient to micro-batch 0's; MPI adds rank 1's to rank 0's, and
// float addition commutes), so the runs agree to the bit. With more terms the sums are grouped
// differently ((g0 + g1) + (g2 + g3) against ((g0 + g1) + g2) + g3) and agree to rounding
// (tests/train/test_distributed.cpp derives the tolerance).
//
// The processes come from MPI when kiso runs under mpirun (Open MPI's launcher starts them, on
// one machine or on the hosts of a hostfile: docs/distributed.md); a kiso started by hand is a
// world of one and talks to no one (MPI is not even initialised). Gradients travel by a Reducer:
//   mpi    MPI_Allreduce on host memory: --device cpu (and --device cuda on the simulator, staged
//          through the host)
//   nccl   ncclAllReduce on device memory, on its own stream, each gradient queued as soon as the
//          backward has finished it, so the sums of the top layers overlap the backward of the
//          lower ones (cuda/nccl.h); the communicator's id travels by MPI_Bcast
// Errors: a failure that every rank sees (a bad option, a non-finite loss) or that rank 0 sees
// while writing (a full disk) is agreed (together, on_root below): rank 0 prints it once and every
// rank exits with status 2. Anything else on one rank ends the whole run (MPI_Abort, from main),
// never a hang of the others in their next collective.
// What it is not: model or pipeline parallelism, or ZeRO (every rank keeps the whole AdamW state).
// Read next: train/loop.cpp (where the step above is), docs/distributed.md (how to launch).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "base/check.h"
#include "nn/parameters.h"

namespace kiso {

// ---- the world: which process am I, and the collectives on host memory ----

namespace dist {

// What this build has: "Open MPI v4.1.4, ..." (MPI_Get_library_version), or why not.
bool mpi_built();
std::string mpi_library();
// The launcher's environment names this process as one of several (OMPI_COMM_WORLD_SIZE,
// PMIX_RANK, PMI_SIZE): kiso was started by mpirun (or srun).
bool launched();

// The world, set up on the first call of any of these (MPI_Init when launched; a build without
// MPI launched by mpirun is an Error: each copy would train alone and write the same files).
// started(): whether it has been (so far only commands that train, bench or `info` set it up).
bool started();
int rank();
int size();
int local_rank();  // the rank among the processes of this machine: which GPU to take
int local_size();
inline bool is_root() { return rank() == 0; }

// In place, over every rank, in rank order where the library allows; one rank: nothing.
void allreduce_sum(float* data, int64_t n);
void allreduce_sum(double* data, int64_t n);
int64_t allreduce_max(int64_t value);
int64_t allreduce_min(int64_t value);
void broadcast(void* data, int64_t bytes, int root);
// Ends every process of the run at once (MPI_Abort); one process: std::exit.
[[noreturn]] void abort(int status);

}  // namespace dist

// An error every rank knows about: rank 0 prints it (`quiet` false), the others exit quietly.
struct AgreedError : Error {
  AgreedError(const std::string& message, bool quiet) : Error(message), quiet(quiet) {}
  bool quiet;
};

// Runs fn on every rank. When it throws on any, it throws on all: an AgreedError with the message
// of the lowest rank that failed ("rank 1 of 2: ..." when that is not rank 0). One rank: just fn().
void together(const std::function<void()>& fn);
// Runs fn on rank 0 only (writing the log, a checkpoint); its error reaches every rank as above.
void on_root(const std::function<void()>& fn);
// Refuses, on every rank, parameters that differ between the ranks (a hash of their bytes): the
// ranks' weights must stay identical, and a difference is a bug to report, not to train on.
void check_same_on_every_rank(const Parameters& params, const char* when);

// ---- the gradients ----

// Sums gradients over the ranks, in place. start() may return before the sum is done (NCCL);
// finish() waits for every sum started. The same gradients must be started in the same order on
// every rank (they are: every rank runs the same graph).
class Reducer {
 public:
  virtual ~Reducer() = default;
  virtual std::string name() const = 0;  // "mpi", "nccl"
  virtual void start(Tensor& grad) = 0;  // f32, on the parameter's device
  virtual void finish() = 0;
};

// --reduce: "auto" (nccl for --device cuda on a GPU with NCCL loaded, mpi otherwise; none for a
// world of one), "none", "mpi", "nccl" (also for a world of one: a 1-rank communicator, so the
// path runs on a single GPU). null for none.
std::unique_ptr<Reducer> make_reducer(const std::string& kind, Device device);
inline const char* kReduceKinds = "auto, none, mpi, nccl";

// The gradients of one optimizer step on this rank (the picture at the top):
//   for each micro-batch i of this rank: backward(loss_i / M, last = i is the rank's last)
//   finish()
// backward() forms micro-batch i's gradient whole, then adds the earlier ones' sum to it, as
// each parameter's gradient becomes final (autograd's GradientReadyScope); on the rank's last
// micro-batch it also starts that gradient's sum over the ranks, so the reduce of the top layers
// overlaps the backward of the lower ones where the reducer is asynchronous. finish() starts the
// sums of parameters the backward did not reach (a zero gradient), waits for all, and leaves
// every gradient the step's whole sum.
class StepGradients {
 public:
  StepGradients(const Parameters& params, Reducer* reducer);  // reducer: null for one process
  void backward(const Variable& loss, bool last);
  void finish();
  double reduce_seconds() const { return reduce_seconds_; }  // host time inside the reducer

 private:
  void ready(Variable& leaf, bool last);
  Parameters params_;
  Reducer* reducer_;
  std::unordered_map<const void*, Tensor> earlier_;  // Variable::id() -> the sum of the earlier micro-batches
  std::unordered_set<const void*> started_;       // the gradients whose sum has started
  int64_t micro_ = 0;
  double reduce_seconds_ = 0;
};

}  // namespace kiso
