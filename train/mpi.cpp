// train/mpi.cpp — the world of a distributed run, from MPI (Open MPI, Debian's libopenmpi-dev):
// the collectives of train/distributed.h on host memory. Built when MPI=1 (the default; the
// Makefile passes mpicc's flags to this file only); train/no_mpi.cpp stands in otherwise.
//
// MPI is initialised only when the launcher's environment says this process is one of several
// (dist::launched): a kiso started by hand never touches MPI, so it needs no daemon and pays
// nothing. Finalised at exit, after every rank has reached it (a barrier inside MPI_Finalize);
// a run that must end early on one rank ends all of them with MPI_Abort (dist::abort, from main).
// What it is not: a wrapper of MPI at large; only the five calls training needs.
// MPI's C API only: without these, mpi.h compiled as C++ also declares the long-deprecated C++
// bindings, which need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "train/distributed.h"

namespace kiso::dist {

namespace {

struct World {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  bool mpi = false;  // MPI_Init was called
};

// Checks an MPI call's return code (with MPI_ERRORS_RETURN set below, errors come back here
// instead of aborting inside the library) and names the call.
void mpi_check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("mpi", "{} failed: {}", call, std::string(text, size_t(length)));
}

// OpenMP's threads of the processes on one machine, unless OMP_NUM_THREADS says: when mpirun
// bound this process to some cores (its CPU mask is smaller than the machine), all of those; when
// it did not (--bind-to none), the machine's cores shared out, so N processes do not each start a
// thread per core and fight over them.
void share_cores(int local_size) {
#ifdef _OPENMP
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  int mine = omp_get_num_procs(), machine = int(std::thread::hardware_concurrency());
  if (mine >= machine && machine > 0) omp_set_num_threads(std::max(1, machine / std::max(1, local_size)));
#else
  (void)local_size;
#endif
}

World make_world() {
  World w;
  if (!launched()) return w;
  int provided = 0;
  // OpenMP threads never call MPI: only the main thread does (FUNNELED).
  mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  w.mpi = true;
  std::atexit([] {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  });
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  // The processes on this machine: those that can share memory with this one.
  MPI_Comm local;
  mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_rank(local, &w.local_rank);
  MPI_Comm_size(local, &w.local_size);
  MPI_Comm_free(&local);
  share_cores(w.local_size);
  return w;
}

bool world_made = false;

World& world() {
  static World w = make_world();
  world_made = true;
  return w;
}

}  // namespace

bool mpi_built() { return true; }

std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);  // callable before MPI_Init
  std::string s(text, size_t(length));
  if (size_t cut = s.find_first_of(",\n"); cut != std::string::npos) s.resize(cut);  // "Open MPI v4.1.4"
  return s;
}

bool started() { return world_made; }
int rank() { return world().rank; }
int size() { return world().size; }
int local_rank() { return world().local_rank; }
int local_size() { return world().local_size; }

// MPI counts elements in an int: a longer buffer goes in pieces of 2^30.
template <class T>
static void allreduce_in_chunks(T* data, int64_t n, MPI_Datatype type) {
  if (world().size == 1) return;
  constexpr int64_t chunk = int64_t(1) << 30;
  for (int64_t at = 0; at < n; at += chunk)
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, data + at, int(std::min(chunk, n - at)), type, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
}

void allreduce_sum(float* data, int64_t n) { allreduce_in_chunks(data, n, MPI_FLOAT); }
void allreduce_sum(double* data, int64_t n) { allreduce_in_chunks(data, n, MPI_DOUBLE); }

static int64_t allreduce_op(int64_t value, MPI_Op op) {
  if (world().size == 1) return value;
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, op, MPI_COMM_WORLD), "MPI_Allreduce");
  return value;
}
int64_t allreduce_max(int64_t value) { return allreduce_op(value, MPI_MAX); }
int64_t allreduce_min(int64_t value) { return allreduce_op(value, MPI_MIN); }

void broadcast(void* data, int64_t bytes, int root) {
  if (world().size == 1) return;
  constexpr int64_t chunk = int64_t(1) << 30;
  char* p = static_cast<char*>(data);
  for (int64_t at = 0; at < bytes; at += chunk)
    mpi_check(MPI_Bcast(p + at, int(std::min(chunk, bytes - at)), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void abort(int status) {
  if (world().mpi && world().size > 1) MPI_Abort(MPI_COMM_WORLD, status);
  std::exit(status);
}

}  // namespace kiso::dist
