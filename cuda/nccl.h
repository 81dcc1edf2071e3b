// cuda/nccl.h — NCCL, the library that sums tensors across GPUs, for data-parallel training.
//
// Each process of a distributed run (train/distributed.h) drives one GPU. After the backward,
// every gradient is summed over the processes with ncclAllReduce, straight from device memory
// to device memory (over NVLink or PCIe on one machine, the network between machines), so the
// gradients never pass through the host.
//
// How this file reaches NCCL: libnccl.so.2 is opened at run time (dlopen) on first use, not
// linked. NCCL ships with the CUDA toolkit, not with Debian, and a lent GPU machine may lack it:
// a kiso that linked it would not even start there, while this one says "NCCL: not found" in
// `kiso info` and runs everything else. The build compiles against nccl.h (the toolkit's) so
// every call is type-checked; cuda/nccl.cpp is the CUDA build's, cuda/no_nccl.cpp the CPU-only
// build's (every call there says this build has no CUDA).
//
// Ordering: kiso's kernels run on the default stream. A Communicator owns a second stream;
// all_reduce_sum first makes that stream wait for the work queued so far on the default stream
// (an event), so the gradient it reads is finished, then queues the sum there and returns at
// once: the default stream can go on with the backward of the layers below while the sum runs.
// wait() makes the default stream wait for every sum queued (an event again); the host never
// blocks.
// What it is not: a general collective library (only the sum that data parallelism needs), or
// a launcher (the processes, and the unique id that ties them, come over MPI).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace kiso::cuda::nccl {

struct Status {
  bool built = false;    // this kiso was compiled against nccl.h (a CUDA build)
  bool loaded = false;   // libnccl.so.2 was found and opened
  std::string message;   // "NCCL 2.27.7 (libnccl.so.2)", or why not
};

// Opens libnccl.so.2 once (cached). Never throws.
const Status& status();

// The 128 bytes that name one communicator: made by rank 0 (ncclGetUniqueId), sent to the
// others (MPI_Bcast), passed by every rank to the Communicator's constructor. Needs no GPU; an
// Error saying status().message when NCCL is not loaded.
using UniqueId = std::array<char, 128>;
UniqueId unique_id();

class Communicator {
 public:
  // Joins the communicator `id` as `rank` of `ranks` (ncclCommInitRank; every rank must call it,
  // each on its own GPU, chosen before with cuda::select_device). An Error when the simulator is
  // the device (NCCL needs a GPU; the MPI reducer sums there), NCCL is not loaded, there is no
  // usable GPU, or NCCL refuses (its message).
  Communicator(const UniqueId& id, int ranks, int rank);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  // Queues data[0..n) (f32, device memory) += the same buffer of every other rank, in place,
  // after the default stream's work so far. Returns without waiting.
  void all_reduce_sum(float* data, int64_t n);
  // The default stream waits for every sum queued so far.
  void wait();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kiso::cuda::nccl
