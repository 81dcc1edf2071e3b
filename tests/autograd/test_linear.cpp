// tests/autograd/test_linear.cpp — linear and linear_gelu (autograd/functions.cpp, tensor/ops_linear.cpp)
// on the cpu, against the composition they replace in the model: reshape(matmul(x, W) + b), then
// bf16_activation and gelu. The fused op's own f64 gradient check is in autograd/gradcheck_cases.cpp.
//   - values: the cpu op IS the composition (matmul, add, round_bf16, gelu), so equal bit for bit;
//   - gradients of x and W: the same products of the same dh, bit for bit; dh too;
//   - the bias gradient: the fused op adds the rows in 8 interleaved lanes (the cuda kernel's
//     order), the composition's sum_to in row order: only rounding differs (bound at the check).
// Accumulation (+=) is exercised by using x twice; bad shapes by their error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "autograd/functions.h"
#include "base/bf16.h"
#include "tensor/precision.h"

using namespace kiso;

namespace {

double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = to_dtype(a, DType::f64).to_vector<double>(), y = to_dtype(b, DType::f64).to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

struct Grads {
  Tensor y, dx, dw, db;
};

// Runs f(x, W, b) on fresh leaves, backpropagates sum(y ⊙ R) for a fixed R, returns all four.
template <class F> Grads run(const Tensor& x, const Tensor& w, const Tensor& b, F f) {
  Variable vx(x, true), vw(w, true), vb(b, true);
  Variable y = f(vx, vw, vb);
  Generator gen{9};
  Tensor R = randn(y.shape(), gen, y.value().dtype());
  sum(y * Variable(R)).backward();
  return {y.value(), vx.grad(), vw.grad(), vb.grad()};
}

Variable composite_linear(const Variable& x, const Variable& w, const Variable& b) {
  int64_t in = w.shape()[0];
  Shape out = x.shape();
  out.back() = w.shape()[1];
  return reshape(matmul(reshape(x, {-1, in}), w) + b, out);
}

}  // namespace

TEST_SUITE("autograd") {

TEST_CASE("linear and linear_gelu equal their composition on the cpu, gradients included") {
  Generator gen{3};
  for (Precision precision : {Precision::f32, Precision::bf16}) {
    PrecisionGuard mode(precision);
    CAPTURE(to_string(precision));
    // (2, 21, 16) -> 42 rows (not a multiple of the 8 lanes) of 16 -> 40 (two column bands).
    Tensor x = randn({2, 21, 16}, gen), w = mul(randn({16, 40}, gen), 0.3), b = randn({40}, gen);
    Grads fused = run(x, w, b, [](auto& x, auto& w, auto& b) { return linear(x, w, b); });
    Grads plain = run(x, w, b, [](auto& x, auto& w, auto& b) { return composite_linear(x, w, b); });
    CHECK(max_diff(fused.y, plain.y) == 0);
    CHECK(max_diff(fused.dx, plain.dx) == 0);
    CHECK(max_diff(fused.dw, plain.dw) == 0);
    // db: 42 terms of |R| <~ 4 in f32, each addition rounding by 2^-24 of a partial sum below
    // 42 · 4: at most 42 · 168 · 6e-8 ≈ 4e-4 apart, the two orders each within half of that.
    CHECK(max_diff(fused.db, plain.db) < 4e-4);
    CHECK(max_diff(fused.db, plain.db) > 0);  // the lane order is really another order (can fail)

    for (GeluKind kind : {GeluKind::tanh, GeluKind::erf}) {
      fused = run(x, w, b, [kind](auto& x, auto& w, auto& b) { return linear_gelu(x, w, b, kind); });
      plain = run(x, w, b, [kind](auto& x, auto& w, auto& b) {
        return gelu(bf16_activation(composite_linear(x, w, b)), kind);
      });
      CHECK(max_diff(fused.y, plain.y) == 0);
      CHECK(max_diff(fused.dx, plain.dx) == 0);
      CHECK(max_diff(fused.dw, plain.dw) == 0);
      CHECK(max_diff(fused.db, plain.db) < 4e-4);  // as above: |dh| <= 1.13 |R|
    }
  }
}

TEST_CASE("linear_gelu saves the bf16-rounded pre-activation in bf16 precision, and accumulates") {
  Generator gen{4};
  Tensor x = randn({5, 8}, gen), w = randn({8, 6}, gen), b = randn({6}, gen);
  {
    PrecisionGuard bf16(Precision::bf16);
    LinearGeluOutput f = linear_gelu(x, w, b, GeluKind::tanh);
    std::vector<float> pre = f.pre.to_vector<float>();
    int64_t not_bf16 = 0;
    for (float v : pre) not_bf16 += round_bf16(v) != v;  // base/bf16.h: the nearest bf16
    CHECK(not_bf16 == 0);
    CHECK(max_diff(f.y, gelu_forward(f.pre, GeluKind::tanh)) == 0);
  }
  // x used twice: its gradient is the sum of both uses' (+=), as the composition's is.
  Variable vx(x, true), vw(w, true), vb(b, true);
  Variable y = linear_gelu(vx, vw, vb, GeluKind::tanh) + linear(vx, vw, vb);
  sum(y).backward();
  Variable cx(x, true), cw(w, true), cb(b, true);
  Variable yc = gelu(composite_linear(cx, cw, cb), GeluKind::tanh) + composite_linear(cx, cw, cb);
  sum(yc).backward();
  CHECK(max_diff(vx.grad(), cx.grad()) == 0);
  CHECK(max_diff(vw.grad(), cw.grad()) == 0);
  CHECK(max_diff(vb.grad(), cb.grad()) < 1e-5);  // 5 rows of |dh| <~ 2.2: a few ulps of 11
}

TEST_CASE("linear refuses mismatched shapes, naming what it expected") {
  Tensor x = zeros({3, 4}), w = zeros({4, 5}), b = zeros({5});
  CHECK_THROWS_WITH(linear(zeros({3, 5}), w, b), doctest::Contains("expected last axis 4"));
  CHECK_THROWS_WITH(linear(x, zeros({4, 5, 1}), b), doctest::Contains("the weight must be (in, out)"));
  CHECK_THROWS_WITH(linear_gelu(x, w, zeros({4}), GeluKind::tanh), doctest::Contains("the bias must be (5,)"));
  CHECK_THROWS_WITH(linear(x, zeros({4, 5}, DType::f64), b), doctest::Contains("dtypes differ"));
  CHECK_THROWS_WITH(bias_gelu_backward(zeros({3, 5}), zeros({3, 4}), GeluKind::tanh),
                    doctest::Contains("expected equal shapes"));
}

}  // TEST_SUITE
