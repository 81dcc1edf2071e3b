// tests/tensor/test_tensor.cpp — Tensor basics: shapes, views, creation, dtypes, printing.
#include <doctest/doctest.h>

#include "tensor/ops.h"

using namespace kiso;

TEST_SUITE("tensor") {

TEST_CASE("reshape is a view of the same storage; clone is a copy") {
  Tensor t = arange(0, 6, DType::f32);
  Tensor v = t.reshape({2, -1});
  CHECK(v.shape() == Shape{2, 3});
  CHECK(v.shares_storage_with(t));
  v.data<float>()[4] = 40.f;
  CHECK(t.data<float>()[4] == 40.f);
  Tensor c = t.clone();
  CHECK_FALSE(c.shares_storage_with(t));
  c.data<float>()[0] = -1.f;
  CHECK(t.data<float>()[0] == 0.f);
}

TEST_CASE("creation: zeros, ones, full, arange, from_vector, scalar") {
  CHECK(zeros({2, 2}).to_vector<float>() == std::vector<float>{0, 0, 0, 0});
  CHECK(ones({3}, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{1, 1, 1});
  CHECK(full({2}, 2.5, DType::f64).to_vector<double>() == std::vector<double>{2.5, 2.5});
  CHECK(arange(2, 5, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{2, 3, 4});
  Tensor s = scalar(3.0);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 3.0);
  Tensor f = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  CHECK(f.size(-1) == 3);
  CHECK(f.size(0) == 2);
  CHECK(to_dtype(f, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("errors name the operation and what was wrong") {
  Tensor t = zeros({2, 3});
  CHECK_THROWS_WITH_AS(t.reshape({4, 2}), doctest::Contains("reshape: cannot view (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(t.reshape({-1, -1}), doctest::Contains("more than one -1"), Error);
  CHECK_THROWS_WITH_AS(t.data<double>(), doctest::Contains("asked for f64 elements of a f32 tensor"), Error);
  CHECK_THROWS_WITH_AS(t.size(2), doctest::Contains("axis 2 is out of range for a tensor of rank 2"), Error);
  CHECK_THROWS_WITH_AS(t.item(), doctest::Contains("exactly one element"), Error);
  CHECK_THROWS_WITH_AS(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), doctest::Contains("3 values do not fill shape (2, 2)"), Error);
  CHECK_THROWS_WITH_AS(Tensor().shape().size() == 0 ? Tensor().device() : Device::cpu, doctest::Contains("undefined"), Error);
}

TEST_CASE("printing shows shape, dtype and values, eliding long tensors") {
  std::string s = from_vector({1, 2.5, -3}, {3}).to_string();
  CHECK(s.find("shape=(3,)") != std::string::npos);
  CHECK(s.find("dtype=f32") != std::string::npos);
  CHECK(s.find("[1, 2.5, -3]") != std::string::npos);
  std::string big = zeros({100, 100}).to_string();
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.size() < 400);
}

}  // TEST_SUITE
