// cuda/no_nccl.cpp — cuda/nccl.h in a build without CUDA (make CUDA=0): there is no GPU to sum
// on, so status() says NCCL is not built in and every other call throws that. A CPU-only build
// reduces gradients with MPI (train/distributed.h), or runs as one process.
#include "cuda/nccl.h"
#include "base/check.h"

namespace kiso::cuda::nccl {

const Status& status() {
  static const Status s{.built = false, .loaded = false, .message = "not built in (a CPU-only build, CUDA=0)"};
  return s;
}

UniqueId unique_id() { fail("nccl unique_id", "{}", status().message); }

struct Communicator::State {};

Communicator::Communicator(const UniqueId&, int, int) { fail("nccl communicator", "{}", status().message); }
Communicator::~Communicator() = default;
void Communicator::all_reduce_sum(float*, int64_t) { fail("nccl all_reduce_sum", "{}", status().message); }
void Communicator::wait() { fail("nccl wait", "{}", status().message); }

}  // namespace kiso::cuda::nccl
