// tests/cuda/test_nccl.cpp — what of cuda/nccl.h and of choosing a GPU can be checked without a
// GPU: that a CUDA build finds libnccl.so.2 and reads its version (checked against the library
// opened here independently, and against nccl.h), that a communicator refuses the simulator and a
// machine without a GPU with a message that says what to do, and that select_device refuses an
// index out of range. The sum itself needs GPUs: tests/gpu/device_check.sh runs a one-rank NCCL
// training on a lent GPU.
#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "base/check.h"
#include "cuda/nccl.h"
#include "cuda/runtime.h"
#include "tests/cuda/each_device.h"

#ifdef KISO_CUDA
#include <dlfcn.h>
#include <nccl.h>
#endif

using namespace kiso;

namespace {

// While one lives, the simulator is off (a test of the GPU path); the previous setting comes back.
struct SimulatorOff {
  bool was = cuda::simulator_on();
  SimulatorOff() { cuda::use_simulator(false); }
  ~SimulatorOff() { cuda::use_simulator(was); }
  SimulatorOff(const SimulatorOff&) = delete;
  SimulatorOff& operator=(const SimulatorOff&) = delete;
};

}  // namespace

TEST_SUITE("nccl") {

#ifdef KISO_CUDA
TEST_CASE("a CUDA build finds libnccl.so.2 and reports its version, as the library itself does") {
  const cuda::nccl::Status& s = cuda::nccl::status();
  CHECK(s.built);
  // The oracle: this test opens the library on its own, by the loader's search, and asks it.
  void* handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {  // a machine without NCCL in the loader's path: kiso may still find the toolkit's
    MESSAGE("libnccl.so.2 is not in the loader's search here: ", s.message);
    if (!s.loaded) CHECK(s.message.find("not found: ") == 0);
    if (!s.loaded) CHECK(s.message.find("libnccl.so.2") != std::string::npos);
    return;
  }
  CHECK(s.loaded);
  auto get_version = reinterpret_cast<decltype(&ncclGetVersion)>(dlsym(handle, "ncclGetVersion"));
  REQUIRE(bool(get_version));
  int code = 0;
  REQUIRE(get_version(&code) == ncclSuccess);
  dlclose(handle);
  // "NCCL 2.28.9 (/usr/local/cuda-13.0/lib/libnccl.so.2)": the version and the file opened.
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_match(s.message, m, std::regex(R"(NCCL (\d+)\.(\d+)\.(\d+) \((.*libnccl\.so\.2)\))")),
                  s.message);
  const int major = std::stoi(m[1]), minor = std::stoi(m[2]), patch = std::stoi(m[3]);
  CHECK(major == NCCL_MAJOR);  // the library's soname promises the ABI of the nccl.h compiled against
  CHECK(NCCL_VERSION(major, minor, patch) == code);
}

TEST_CASE("unique_id makes a fresh id each time, with no GPU needed") {
  if (!cuda::nccl::status().loaded) return;  // the case above has said why
  // Each call also starts NCCL's bootstrap root (a thread that waits for the ranks to connect):
  // two calls, two threads left waiting in this process, harmless until it exits.
  const cuda::nccl::UniqueId a = cuda::nccl::unique_id(), b = cuda::nccl::unique_id();
  CHECK(a != cuda::nccl::UniqueId{});
  CHECK(a != b);  // a random magic number in each: ranks of two runs never join each other's
}

TEST_CASE("a communicator refuses the simulator, and a machine without a GPU, saying what to do") {
  cuda::nccl::UniqueId id{};  // never reaches NCCL: both refusals come first
  {
    testing::SimulatorOn simulator;
    CHECK_THROWS_WITH_AS(cuda::nccl::Communicator(id, 1, 0),
                         "nccl communicator: NCCL needs a GPU; on the simulator use the MPI reducer", Error);
  }
  SimulatorOff off;
  if (cuda::device_status().usable || !cuda::nccl::status().loaded) return;  // a GPU here: device_check.sh's
  const std::string why = cuda::device_status().message;
  CHECK_THROWS_WITH_AS(cuda::nccl::Communicator(id, 1, 0), doctest::Contains(why.c_str()), Error);
}
#else
TEST_CASE("a CPU-only build says NCCL is not built in, and every call refuses with that") {
  const cuda::nccl::Status& s = cuda::nccl::status();
  CHECK_FALSE(s.built);
  CHECK_FALSE(s.loaded);
  CHECK(s.message == "not built in (a CPU-only build, CUDA=0)");
  CHECK_THROWS_WITH_AS(cuda::nccl::unique_id(), "nccl unique_id: not built in (a CPU-only build, CUDA=0)", Error);
  testing::SimulatorOn simulator;  // the simulator changes nothing: there is no NCCL to refuse it
  CHECK_THROWS_WITH_AS(cuda::nccl::Communicator(cuda::nccl::UniqueId{}, 1, 0),
                       "nccl communicator: not built in (a CPU-only build, CUDA=0)", Error);
}
#endif

TEST_CASE("device_count agrees with device_status: none without a usable GPU, one or more with") {
  const int count = cuda::device_count();
  CHECK(count >= 0);
#ifndef KISO_CUDA
  CHECK(count == 0);
#endif
  if (cuda::device_status().usable) CHECK(count >= 1);
  else if (cuda::device_status().message.find("no usable CUDA GPU") != std::string::npos) CHECK(count == 0);
}

TEST_CASE("select_device refuses a GPU that is not there, naming the index and the count") {
  {
    testing::SimulatorOn simulator;
    CHECK_NOTHROW(cuda::select_device(99));  // the simulator is the device: nothing to choose
  }
  SimulatorOff off;
  const int count = cuda::device_count();
  const std::string there = count == 0 ? "there are 0 GPUs: " + cuda::device_status().message
                                       : "there are " + std::to_string(count) + " GPUs (0 to " +
                                             std::to_string(count - 1) + ")";
  const std::string past_the_end = "select_device: GPU " + std::to_string(count) + " asked for, but " + there;
  CHECK_THROWS_WITH_AS(cuda::select_device(count), past_the_end.c_str(), Error);
  CHECK_THROWS_WITH_AS(cuda::select_device(-1), ("select_device: GPU -1 asked for, but " + there).c_str(), Error);
}

}  // TEST_SUITE
