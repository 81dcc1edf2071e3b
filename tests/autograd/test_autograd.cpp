// tests/autograd/test_autograd.cpp — the graph machinery: accumulation, freeing, no-grad,
// leaves versus intermediates, deep graphs. Oracles: derivatives worked out by hand in the
// comments, and gradcheck (finite differences) for a small network built from many ops.
#include <doctest/doctest.h>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"

using namespace kiso;

static std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

TEST_SUITE("autograd") {

TEST_CASE("a value used twice receives both gradients: d(x*x + x)/dx = 2x + 1") {
  Variable x(from_vector({-1.5, 0.0, 2.0}, {3}, DType::f64), true);
  Variable y = sum(x * x + x);
  y.backward();
  CHECK(values(x.grad()) == std::vector<double>{-2.0, 1.0, 5.0});
}

TEST_CASE("gradients flow through a diamond and add up") {
  // a = 3x, b = a*a, c = a + b  =>  dc/dx = 3 + 2a·3 = 3 + 18x
  Variable x(from_vector({1.0, -2.0}, {2}, DType::f64), true);
  Variable a = mul(x, 3.0);
  Variable c = sum(a + a * a);
  c.backward();
  CHECK(values(x.grad()) == std::vector<double>{21.0, -33.0});
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Variable w(from_vector({2.0}, {1}, DType::f64), true);
  sum(mul(w, 5.0)).backward();
  sum(mul(w, 5.0)).backward();  // a second, freshly built graph
  CHECK(w.grad().item() == 10.0);
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
  sum(w * w).backward();
  CHECK(w.grad().item() == 4.0);
}

TEST_CASE("the graph is freed after backward; a second backward through it is a clear error") {
  Variable x(from_vector({1.0, 2.0}, {2}, DType::f64), true);
  Variable loss = sum(exp(x));
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("already freed by an earlier backward()"), Error);
  // A graph sharing a freed part is refused too.
  Variable h = exp(x);
  sum(h).backward();
  CHECK_THROWS_WITH_AS(sum(h * h).backward(), doctest::Contains("graph through 'exp' was already freed"), Error);
}

TEST_CASE("leaves keep their gradient, intermediates do not, constants get none") {
  Variable x(from_vector({1.0, 2.0}, {2}, DType::f64), true);
  Variable c(from_vector({3.0, 4.0}, {2}, DType::f64));  // requires_grad = false
  Variable h = x * c;
  CHECK(h.requires_grad());
  CHECK_FALSE(h.is_leaf());
  sum(h).backward();
  CHECK(values(x.grad()) == std::vector<double>{3.0, 4.0});
  CHECK_FALSE(h.grad().defined());
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("NoGradGuard records nothing, nests, and restores the mode") {
  Variable x(ones({2}, DType::f64), true);
  {
    NoGradGuard outer;
    {
      NoGradGuard inner;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());
    Variable y = sum(x * x);
    CHECK_FALSE(y.requires_grad());
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("does not require grad"), Error);
  }
  CHECK(grad_enabled());
  CHECK(sum(x * x).requires_grad());
}

TEST_CASE("backward checks its arguments") {
  Variable x(ones({2, 2}, DType::f64), true);
  Variable y = x * x;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("needs a one-element value"), Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({3}, DType::f64)), doctest::Contains("dout is f64 (3,) but the value is f64 (2, 2)"), Error);
  y.backward(ones({2, 2}, DType::f64));  // explicit dout works: d(x²) = 2x
  CHECK(values(x.grad()) == std::vector<double>{2, 2, 2, 2});
}

TEST_CASE("a deep chain backpropagates without recursion") {
  Variable x(from_vector({1.0}, {1}, DType::f64), true);
  Variable y = x;
  for (int i = 0; i < 20000; ++i) y = add(y, 1.0);  // dy/dx = 1 through 20000 nodes
  sum(y).backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("gradcheck catches a wrong backward") {
  // y = 2x with a backward that forgets the factor 2: analytic dy/dx = 1, numeric = 2.
  GradcheckFn wrong = [](const std::vector<Variable>& x) {
    return Variable::record(mul(x[0].value(), 2.0), "wrong", {x[0]},
                            [](std::vector<Variable>& in, const Tensor& dy) { in[0].accumulate_grad(dy); });
  };
  GradcheckResult r = gradcheck(wrong, {ones({3}, DType::f64)}, {true});
  CHECK_FALSE(r.passed);
  CHECK(r.max_rel_error > 0.1);
  // ... and passes the right one.
  GradcheckFn right = [](const std::vector<Variable>& x) { return mul(x[0], 2.0); };
  CHECK(gradcheck(right, {ones({3}, DType::f64)}, {true}).passed);
  CHECK_THROWS_WITH_AS(gradcheck(right, {ones({3})}, {true}), doctest::Contains("gradient checks run in f64"), Error);
}

TEST_CASE("a small network built from many ops passes gradcheck end to end") {
  // x (4, 6) -> layernorm -> matmul W1 (6, 8) + b1 -> gelu -> matmul W2 (8, 5) -> a causal
  // softmax-weighted mix -> cross-entropy. Every weight and the input are checked at once.
  Generator gen{99};
  std::vector<Tensor> in = {randn({4, 6}, gen, DType::f64), randn({6}, gen, DType::f64), randn({6}, gen, DType::f64),
                            randn({6, 8}, gen, DType::f64), randn({8}, gen, DType::f64), randn({8, 5}, gen, DType::f64)};
  Tensor targets = from_vector(std::vector<int32_t>{1, 4, -100, 0}, {4});
  GradcheckFn net = [targets](const std::vector<Variable>& p) {
    Variable h = layernorm(p[0], p[1], p[2]);                   // (4, 6)
    h = gelu(matmul(h, p[3]) + p[4]);                           // (4, 8)
    Variable logits = matmul(h, p[5]);                          // (4, 5)
    Variable att = softmax(matmul(logits, logits, false, true), true);  // (4, 4)
    Variable mixed = matmul(att, logits) + logits;              // (4, 5), logits used three times
    return cross_entropy(mixed, targets);
  };
  GradcheckResult r = gradcheck(net, in, std::vector<bool>(in.size(), true));
  INFO(r.worst);
  CHECK(r.passed);
}

}  // TEST_SUITE
