// tests/cuda/test_runtime.cpp — the CUDA runtime face: a build with no usable GPU (CPU-only
// builds, and CUDA builds on machines like CI's) says so clearly at the first use; with the
// simulator on, or with a GPU, tensors round-trip host -> device -> host unchanged (and on a GPU
// the self-test kernel ran).
#include <doctest/doctest.h>

#include "cuda/runtime.h"
#include "tensor/ops.h"

using namespace kiso;

TEST_SUITE("cuda") {

TEST_CASE("device status is explained in one line") {
  const cuda::DeviceStatus& s = cuda::device_status();
  CHECK_FALSE(s.message.empty());
#ifdef KISO_CUDA
  CHECK(s.built);
#else
  CHECK_FALSE(s.built);
  CHECK(s.message.find("built without CUDA") != std::string::npos);
#endif
}

TEST_CASE("without a usable GPU, asking for cuda memory is a clear error, not a crash") {
  if (cuda::device_status().usable || cuda::simulator_on()) return;  // covered by the next cases
  const std::string why = cuda::device_status().message;
  CHECK_THROWS_WITH_AS(zeros({2, 2}, DType::f32, Device::cuda), doctest::Contains(why.c_str()), Error);
  CHECK_THROWS_WITH_AS(ones({3}).to(Device::cuda), doctest::Contains(why.c_str()), Error);
  CHECK_THROWS_WITH_AS(cuda::require_device("train"), doctest::Contains("train: "), Error);
}

TEST_CASE("with the simulator on, cuda tensors live in host memory and round-trip unchanged") {
  bool was_on = cuda::simulator_on();  // off unless KISO_CUDA_SIM=1 is set
  cuda::use_simulator(true);
  struct Restore {
    bool on;
    ~Restore() { cuda::use_simulator(on); }
  } restore{was_on};
  {
    Generator gen{12};
    Tensor x = randn({4, 7}, gen);
    Tensor d = x.to(Device::cuda);
    CHECK(d.is_cuda());
    Tensor z = zeros({3}, DType::f32, Device::cuda);
    CHECK(z.to(Device::cpu).to_vector<float>() == std::vector<float>{0, 0, 0});
    CHECK(d.clone().to(Device::cpu).to_vector<float>() == x.to_vector<float>());
    CHECK_THROWS_WITH_AS(cuda::use_simulator(false),
                         doctest::Contains("cannot switch the simulator off while 1024 bytes of device memory are in use"),
                         Error);
    CHECK_THROWS_WITH_AS(d.data<float>(), doctest::Contains("is on cuda"), Error);
  }
  CHECK_NOTHROW(cuda::require_device("train"));
}

TEST_CASE("with a GPU, tensors round-trip through device memory unchanged") {
  if (!cuda::device_status().usable) return;
  Generator gen{11};
  Tensor x = randn({3, 5}, gen);
  Tensor d = x.to(Device::cuda);
  CHECK(d.is_cuda());
  CHECK(d.clone().to(Device::cpu).to_vector<float>() == x.to_vector<float>());
  // An op runs where its inputs are, and refuses inputs on two devices.
  CHECK(add(d, d).to_vector<float>() == add(x, x).to_vector<float>());  // one IEEE add each: exact
  CHECK_THROWS_WITH_AS(add(x, d), doctest::Contains("inputs on different devices"), Error);
}

}  // TEST_SUITE
