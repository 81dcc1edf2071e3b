// tests/cuda/test_kernels.cpp — parity of the CUDA backend's ops with the CPU ops, on every
// device there is: the simulator always (so CI runs every kernel), and the GPU when one is
// usable. Sizes are odd and not multiples of the 256-thread blocks. Oracle: the CPU op on the
// same inputs.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "cuda/runtime.h"
#include "tensor/ops.h"

using namespace kiso;

namespace {

// Runs `body` once per available device backend, named for the messages.
void on_each_device(const std::function<void(const std::string&)>& body) {
  bool was_on = cuda::simulator_on();
  struct Restore {
    bool on;
    ~Restore() { cuda::use_simulator(on); }
  } restore{was_on};
  cuda::use_simulator(true);
  body("simulator");
  cuda::use_simulator(false);
  if (cuda::device_status().usable) body("gpu");
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("binary ops with broadcasting: cuda equals the cpu exactly, f32 and f64") {
  // One IEEE add, sub, mul or div of the same two numbers rounds the same on both sides, so
  // the results must be bit-identical: tolerance 0.
  using Op = Tensor (*)(const Tensor&, const Tensor&);
  std::vector<std::pair<const char*, Op>> ops = {{"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}};
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 5}, {3, 5}}, {{2, 3, 47}, {47}}, {{2, 1, 5}, {3, 1}}, {{}, {7}}, {{4, 1, 3, 1, 2}, {5, 1, 1, 2}},
      {{301, 3}, {301, 1}},  // 903 elements: four blocks, the last one partly idle
      {{0, 4}, {4}}};
  on_each_device([&](const std::string& device) {
    for (DType dtype : {DType::f32, DType::f64})
      for (const auto& [sa, sb] : shapes) {
        Generator gen{21};
        Tensor a = randn(sa, gen, dtype), b = add(randn(sb, gen, dtype), 3.0);  // b mostly away from 0
        for (const auto& [name, op] : ops) {
          CAPTURE(device);
          std::string op_name = name;
          CAPTURE(op_name);
          CAPTURE(shape_str(sa));
          CAPTURE(shape_str(sb));
          Tensor want = op(a, b);
          Tensor got = op(a.to(Device::cuda), b.to(Device::cuda));
          CHECK(got.is_cuda());
          REQUIRE(got.shape() == want.shape());
          Tensor back = got.to(Device::cpu);
          if (dtype == DType::f64) CHECK(back.to_vector<double>() == want.to_vector<double>());
          else CHECK(back.to_vector<float>() == want.to_vector<float>());
        }
      }
  });
}

TEST_CASE("binary ops refuse inputs on two devices, and other dtypes, by name") {
  on_each_device([&](const std::string&) {
    Tensor c = ones({2}).to(Device::cuda);
    CHECK_THROWS_WITH_AS(add(c, ones({2})), doctest::Contains("add: inputs on different devices: cuda and cpu"), Error);
    CHECK_THROWS_WITH_AS(mul(c, ones({2}, DType::f64).to(Device::cuda)),
                         doctest::Contains("mul: inputs must be f32 or f64 and of one dtype, got f32 and f64"), Error);
    CHECK_THROWS_WITH_AS(sub(c, ones({3}).to(Device::cuda)), doctest::Contains("cannot be broadcast"), Error);
  });
}

}  // TEST_SUITE
