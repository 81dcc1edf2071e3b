// train/no_mpi.cpp — the world of a kiso built without MPI (make MPI=0): always one process.
// Started by mpirun anyway, it refuses to run rather than let N copies each train alone and
// write the same files. train/mpi.cpp is the MPI build's.
#include <cstdlib>

#include "train/distributed.h"

namespace kiso::dist {

namespace {
void refuse_launched() {
  check(!launched(), "distributed",
        "this kiso was built without MPI (MPI=0) but runs under an MPI launcher (mpirun): every process would train "
        "alone. Rebuild with MPI (apt-get install libopenmpi-dev; make MPI=1), or run it without mpirun");
}
}  // namespace

bool mpi_built() { return false; }
std::string mpi_library() { return "not built in (make MPI=1 with libopenmpi-dev)"; }
bool started() { return false; }
int rank() { return refuse_launched(), 0; }
int size() { return refuse_launched(), 1; }
int local_rank() { return 0; }
int local_size() { return 1; }
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(double*, int64_t) {}
int64_t allreduce_max(int64_t value) { return value; }
int64_t allreduce_min(int64_t value) { return value; }
void broadcast(void*, int64_t, int) {}
void abort(int status) { std::exit(status); }

}  // namespace kiso::dist
