// cuda/nccl.cpp — cuda/nccl.h for CUDA builds: NCCL's sum across GPUs, reached through dlopen.
//
// libnccl.so.2 is opened on the first call of status() (every other call starts there) and kept
// open for the life of the process. Each function kiso calls is looked up by name and held in a
// pointer typed from nccl.h's own declaration (decltype(&ncclAllReduce)), so a call with the wrong
// arguments is a compile error, as if the library were linked. What it is not: a wrapper of all
// of NCCL (five calls), or a fallback (a build or machine without NCCL uses the MPI reducer).
//
// Streams. kiso's kernels and copies all run on the legacy default stream: no kiso source
// launches on another stream and the Makefile never passes nvcc --default-stream per-thread, so
// "stream 0" is the one queue per device that every host thread shares. This file names it
// cudaStreamLegacy rather than 0, so that its meaning never depends on how this file is compiled.
// The communicator's own stream is created cudaStreamNonBlocking: a blocking stream would be
// serialised with the legacy stream by CUDA itself, and no sum could overlap the backward. The
// order that matters is made explicit instead, by two events (all_reduce_sum and wait).
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include <cuda_runtime.h>
#include <nccl.h>

#include "cuda/nccl.h"
#include "cuda/runtime.h"
#include "base/check.h"

namespace kiso::cuda::nccl {

static_assert(sizeof(ncclUniqueId) == sizeof(UniqueId), "nccl.h's unique id is not the 128 bytes of cuda/nccl.h");

namespace {

// The NCCL calls kiso makes, each typed by its declaration in nccl.h.
struct Api {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetErrorString) get_error_string = nullptr;
  decltype(&ncclGetLastError) get_last_error = nullptr;  // NCCL >= 2.13; may be missing, then unused
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
};

struct Library {
  Status status;
  Api api;
};

// Where to look, in order: the loader's search (LD_LIBRARY_PATH, ldconfig's cache), then the
// toolkit kiso was built with (the Makefile passes KISO_NCCL_FALLBACK = $(CUDA_HOME)/lib64/...),
// whose lib64 is often not in the loader's path.
const char* const kCandidates[] = {
    "libnccl.so.2",
#ifdef KISO_NCCL_FALLBACK
    KISO_NCCL_FALLBACK,
#endif
};

// NCCL's version code as nccl.h's NCCL_VERSION builds it: X*1000 + Y*100 + Z up to 2.8,
// X*10000 + Y*100 + Z from 2.9 on.
std::string version_string(int code) {
  if (code < 10000) return fmt::format("{}.{}.{}", code / 1000, code % 1000 / 100, code % 100);
  return fmt::format("{}.{}.{}", code / 10000, code % 10000 / 100, code % 100);
}

Library open_library() {
  Library lib;
  lib.status.built = true;
  void* handle = nullptr;
  std::vector<std::string> tried;
  for (const char* path : kCandidates) {
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    tried.push_back(dlerror());  // names the path and why (not found, wrong architecture, ...)
  }
  if (handle == nullptr) {
    lib.status.message = "not found: " + join(tried, "; ");
    return lib;
  }
  // The handle is never closed: the library stays for the life of the process.
  std::vector<std::string> missing;
  auto symbol = [&]<class F>(F& fn, const char* name, bool required) {
    fn = reinterpret_cast<F>(dlsym(handle, name));
    if (fn == nullptr && required) missing.push_back(name);
  };
  Api& api = lib.api;
  symbol(api.get_version, "ncclGetVersion", true);
  symbol(api.get_error_string, "ncclGetErrorString", true);
  symbol(api.get_last_error, "ncclGetLastError", false);
  symbol(api.get_unique_id, "ncclGetUniqueId", true);
  symbol(api.comm_init_rank, "ncclCommInitRank", true);
  symbol(api.all_reduce, "ncclAllReduce", true);
  symbol(api.comm_destroy, "ncclCommDestroy", true);
  // The file the loader actually opened (the search may have found any of several NCCLs).
  Dl_info info{};
  std::string where = kCandidates[0];
  if (api.get_version != nullptr && dladdr(reinterpret_cast<void*>(api.get_version), &info) != 0 &&
      info.dli_fname != nullptr)
    where = info.dli_fname;
  if (!missing.empty()) {
    lib.status.message = fmt::format("{} lacks {}", where, join(missing, ", "));
    return lib;
  }
  int code = 0;
  if (ncclResult_t r = api.get_version(&code); r != ncclSuccess) {
    lib.status.message = fmt::format("{}: ncclGetVersion failed: {}", where, api.get_error_string(r));
    return lib;
  }
  lib.status.loaded = true;
  lib.status.message = fmt::format("NCCL {} ({})", version_string(code), where);
  return lib;
}

const Library& library() {
  static const Library lib = open_library();
  return lib;
}

// The loaded API, or an Error saying why there is none; `op` names the caller.
const Api& api(const char* op) {
  const Library& lib = library();
  if (!lib.status.loaded) fail(op, "NCCL is not available: {}", lib.status.message);
  return lib.api;
}

// A failed NCCL or CUDA call as an Error naming the call (its source text) and the library's
// message. NCCL's result codes are coarse ("unhandled system error"); ncclGetLastError has the
// detail when the library offers it.
void nccl_check(ncclResult_t r, const char* call) {
  if (r == ncclSuccess) return;
  const Api& a = library().api;
  const char* detail = a.get_last_error != nullptr ? a.get_last_error(nullptr) : nullptr;
  fail("nccl", "{} failed: {}{}{} (NCCL_DEBUG=INFO in the environment says more)", call, a.get_error_string(r),
       detail != nullptr && *detail != '\0' ? ": " : "", detail != nullptr ? detail : "");
}

void cuda_check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) fail("nccl", "{} failed: {} ({})", call, cudaGetErrorString(err), cudaGetErrorName(err));
}

#define NCCL_CHECK(call) nccl_check((call), #call)
#define NCCL_CUDA_CHECK(call) cuda_check((call), #call)

}  // namespace

const Status& status() { return library().status; }

UniqueId unique_id() {
  ncclUniqueId id{};
  NCCL_CHECK(api("nccl unique_id").get_unique_id(&id));
  UniqueId out;
  std::copy(std::begin(id.internal), std::end(id.internal), out.begin());
  return out;
}

// What a communicator holds. Its destructor releases whatever the constructor got to, so a
// constructor that throws halfway leaks nothing.
struct Communicator::State {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // NCCL's queue, beside the default stream
  cudaEvent_t queued = nullptr;   // recorded on the default stream: the gradients so far are final
  cudaEvent_t summed = nullptr;   // recorded on NCCL's stream: the sums so far are done

  ~State() {
    // Never throws (it runs in destructors, perhaps while an Error unwinds): a failure is said
    // on stderr. The sums still queued read and write the gradients and use the communicator,
    // so they finish first; then ncclCommDestroy (which finalizes the communicator itself).
    auto report = [](const char* call, const char* why) {
      std::fprintf(stderr, "kiso: nccl: %s failed: %s\n", call, why);
    };
    if (stream != nullptr)
      if (cudaError_t err = cudaStreamSynchronize(stream); err != cudaSuccess)
        report("cudaStreamSynchronize", cudaGetErrorString(err));
    if (comm != nullptr)
      if (ncclResult_t r = library().api.comm_destroy(comm); r != ncclSuccess)
        report("ncclCommDestroy", library().api.get_error_string(r));
    if (queued != nullptr) cudaEventDestroy(queued);
    if (summed != nullptr) cudaEventDestroy(summed);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

Communicator::Communicator(const UniqueId& id, int ranks, int rank) {
  const char* op = "nccl communicator";
  // With the simulator on, Device::cuda memory is host memory, which NCCL cannot sum: refuse
  // before looking for NCCL or a GPU.
  if (simulator_on()) fail(op, "NCCL needs a GPU; on the simulator use the MPI reducer");
  const Api& nccl = api(op);
  require_device(op);  // the GPU's own problem (no driver, no device), in device_status()'s words
  check(ranks >= 1 && rank >= 0 && rank < ranks, op, "rank {} of {} ranks; expected 0 <= rank < ranks, ranks >= 1",
        rank, ranks);
  auto state = std::make_unique<State>();
  ncclUniqueId nccl_id;
  std::copy(id.begin(), id.end(), nccl_id.internal);
  // Blocks until all `ranks` processes have joined, each on the GPU it selected. Kept only once
  // made: what a failed call leaves in its output is not a communicator to destroy.
  ncclComm_t comm = nullptr;
  NCCL_CHECK(nccl.comm_init_rank(&comm, ranks, nccl_id, rank));
  state->comm = comm;
  NCCL_CUDA_CHECK(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking));
  // Events only order the two streams: no timing, which makes them cheaper to record and wait on.
  NCCL_CUDA_CHECK(cudaEventCreateWithFlags(&state->queued, cudaEventDisableTiming));
  NCCL_CUDA_CHECK(cudaEventCreateWithFlags(&state->summed, cudaEventDisableTiming));
  state_ = std::move(state);
}

Communicator::~Communicator() = default;  // State's destructor does the work

void Communicator::all_reduce_sum(float* data, int64_t n) {
  check(n >= 0 && (data != nullptr || n == 0), "nccl all_reduce_sum", "{} numbers at {}; expected n >= 0 and a buffer",
        n, static_cast<const void*>(data));
  if (n == 0) return;  // every rank has the same n, so every rank skips alike
  State& s = *state_;
  const Api& nccl = library().api;
  // 1. NCCL's stream waits for what the default stream has queued so far: the backward that
  //    writes these gradients. The host does not wait.
  NCCL_CUDA_CHECK(cudaEventRecord(s.queued, cudaStreamLegacy));
  NCCL_CUDA_CHECK(cudaStreamWaitEvent(s.stream, s.queued, 0));
  // 2. The sum, in place, queued behind it.
  NCCL_CHECK(nccl.all_reduce(data, data, size_t(n), ncclFloat, ncclSum, s.comm, s.stream));
}

void Communicator::wait() {
  State& s = *state_;
  // NCCL's stream runs its sums in order, so an event after the last one marks them all done;
  // the default stream's next kernels (clipping, the optimizer) wait for it, the host does not.
  NCCL_CUDA_CHECK(cudaEventRecord(s.summed, s.stream));
  NCCL_CUDA_CHECK(cudaStreamWaitEvent(cudaStreamLegacy, s.summed, 0));
}

}  // namespace kiso::cuda::nccl
