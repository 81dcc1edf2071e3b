// tests/autograd/test_composite.cpp — each fused op (hand-written backward kernel) against its
// composite twin (autograd/composite.h: the same maths built from primitives, differentiated
// through their closures). Values and input gradients must agree:
//   f64: 1e-12 relative — both sides are exact formulas, rounding differs only in order of
//        operations, a few ulps of 1e-16 amplified by at most the row length;
//   f32: 2e-5 relative — float rounding (ε ≈ 6e-8) through exp/log/sums over rows of ≤ 50.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/composite.h"

using namespace kiso;

// max |a - b| / max(max |b|, 1): relative to the tensor's scale, absolute for tiny tensors.
static double rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double diff = 0, scale = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

// Runs fused and composite on copies of the same inputs, backpropagates the same random
// projection through both, and compares the values and every input's gradient.
template <class Fused, class Composite>
static void compare_twins(std::vector<Tensor> inputs, DType dtype, double tol, Fused fused, Composite composite) {
  auto run = [&](auto f, std::vector<Variable>& xs) {
    for (Tensor& t : inputs) xs.emplace_back(to_dtype(t, dtype), true);
    Variable y = f(xs);
    Generator gen{5};
    Tensor R = randn(y.shape(), gen, dtype);
    sum(y * Variable(R)).backward();
    return y.value();
  };
  std::vector<Variable> a, b;
  Tensor ya = run(fused, a), yb = run(composite, b);
  CHECK(rel_diff(ya, yb) < tol);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("input ", i);
    CHECK(rel_diff(a[i].grad(), b[i].grad()) < tol);
  }
}

using V = std::vector<Variable>&;

TEST_SUITE("autograd") {

TEST_CASE("softmax matches its composite twin, plain and causal") {
  Generator gen{1};
  for (DType dt : {DType::f64, DType::f32}) {
    double tol = dt == DType::f64 ? 1e-12 : 2e-5;
    compare_twins({randn({4, 7}, gen, DType::f64)}, dt, tol, [](V x) { return softmax(x[0]); },
                  [](V x) { return composite::softmax(x[0]); });
    compare_twins({randn({2, 5, 5}, gen, DType::f64)}, dt, tol, [](V x) { return softmax(x[0], true); },
                  [](V x) { return composite::softmax(x[0], true); });
    compare_twins({randn({3, 6}, gen, DType::f64)}, dt, tol, [](V x) { return softmax(x[0], true); },
                  [](V x) { return composite::softmax(x[0], true); });
  }
}

// The fused attention (tensor/ops_attention.cpp) against the unfused ops it replaced, with and
// without dropout (each side draws its mask from its own generator of one seed: the same draws),
// on shapes with one head, several heads, odd T and a batch. Parallel over heads or not (the
// (2, 7, 3·12) case is below kParallelGrain's work, the (3, 33, 3·16) one above it).
TEST_CASE("attention matches its composite twin, with and without dropout") {
  Generator gen{11};
  struct Case { int64_t B, T, C, NH; double p; };
  for (Case c : {Case{1, 5, 4, 1, 0.0}, Case{2, 7, 12, 3, 0.0}, Case{2, 7, 12, 3, 0.25}, Case{3, 33, 16, 4, 0.1}}) {
    INFO("B ", c.B, " T ", c.T, " C ", c.C, " NH ", c.NH, " p ", c.p);
    for (DType dt : {DType::f64, DType::f32}) {
      double tol = dt == DType::f64 ? 1e-12 : 2e-5;
      compare_twins({randn({c.B, c.T, 3 * c.C}, gen, DType::f64)}, dt, tol,
                    [c](V x) { Generator g{3}; return attention(x[0], c.NH, c.p, &g); },
                    [c](V x) { Generator g{3}; return composite::attention(x[0], c.NH, c.p, &g); });
    }
  }
}

TEST_CASE("attention: bad shapes and a missing generator are refused with their sizes") {
  Variable x(zeros({2, 3, 12}), true);
  CHECK_THROWS_WITH_AS(attention(x, 5, 0.0, nullptr), doctest::Contains("not divisible by n_head = 5"), Error);
  CHECK_THROWS_WITH_AS(attention(Variable(zeros({2, 3, 10})), 1, 0.0, nullptr), doctest::Contains("(B, T, 3C)"), Error);
  CHECK_THROWS_WITH_AS(attention(x, 2, 0.1, nullptr), doctest::Contains("needs a generator"), Error);
}

TEST_CASE("layernorm matches its composite twin") {
  Generator gen{2};
  for (DType dt : {DType::f64, DType::f32}) {
    double tol = dt == DType::f64 ? 1e-12 : 2e-5;
    compare_twins({randn({6, 9}, gen, DType::f64), randn({9}, gen, DType::f64), randn({9}, gen, DType::f64)}, dt, tol,
                  [](V x) { return layernorm(x[0], x[1], x[2]); },
                  [](V x) { return composite::layernorm(x[0], x[1], x[2]); });
    compare_twins({mul(randn({2, 3, 50}, gen, DType::f64), 4.0), randn({50}, gen, DType::f64), randn({50}, gen, DType::f64)},
                  dt, tol, [](V x) { return layernorm(x[0], x[1], x[2]); },
                  [](V x) { return composite::layernorm(x[0], x[1], x[2]); });
  }
}

TEST_CASE("gelu (tanh and erf) matches its composite twin") {
  Generator gen{3};
  for (DType dt : {DType::f64, DType::f32}) {
    double tol = dt == DType::f64 ? 1e-12 : 2e-5;
    for (GeluKind kind : {GeluKind::tanh, GeluKind::erf}) {
      compare_twins({mul(randn({50}, gen, DType::f64), 3.0)}, dt, tol, [kind](V x) { return gelu(x[0], kind); },
                    [kind](V x) { return composite::gelu(x[0], kind); });
    }
  }
}

TEST_CASE("cross-entropy matches its composite twin, with ignored targets") {
  Generator gen{4};
  Tensor targets = from_vector(std::vector<int32_t>{3, -100, 0, 10, 7, 7, -100, 1}, {8});
  for (DType dt : {DType::f64, DType::f32}) {
    double tol = dt == DType::f64 ? 1e-12 : 2e-5;
    compare_twins({mul(randn({8, 11}, gen, DType::f64), 2.0)}, dt, tol,
                  [&](V x) { return cross_entropy(x[0], targets); },
                  [&](V x) { return composite::cross_entropy(x[0], targets); });
  }
}

}  // TEST_SUITE
