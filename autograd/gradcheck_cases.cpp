// autograd/gradcheck_cases.cpp — which ops `kiso gradcheck` and the test suite check, on
// which shapes. Every differentiable function of autograd/functions.h appears here with
// several shapes: plain, odd sizes, size-1 axes, broadcasting edges, 0-d scalars.
//
// Inputs come from one seeded generator, shaped to keep each op smooth under the ±2h probes:
// positive values (≥ 0.5) where the op needs them (log, sqrt, rsqrt, pow, the divisor) and
// well-separated values for max, so the argmax cannot change while an element is perturbed.
#include <algorithm>
#include <numeric>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"

namespace kiso {

namespace {

struct Inputs {
  Generator gen{2024};
  Tensor normal(const Shape& s) { return randn(s, gen, DType::f64); }
  Tensor positive(const Shape& s) { return add(mul(rand(s, gen, DType::f64), 1.5), 0.5); }  // [0.5, 2)
  // A random ordering of 0, 0.1, 0.2, ...: neighbours differ by 0.1 ≫ 2h.
  Tensor distinct(const Shape& s) {
    std::vector<double> key = rand({numel_of(s)}, gen, DType::f64).to_vector<double>();
    std::vector<double> v(key.size());
    std::vector<size_t> order(key.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key[a] < key[b]; });
    for (size_t k = 0; k < order.size(); ++k) v[order[k]] = 0.1 * double(k) - 0.5;
    return from_vector(v, s);
  }
};

std::string shapes_of(const std::vector<Tensor>& ts, const char* sep) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i) s += (i ? sep : "") + shape_str(ts[i].shape());
  return s;
}

}  // namespace

std::vector<GradcheckCase> op_gradcheck_cases() {
  Inputs in;
  std::vector<GradcheckCase> cases;
  auto add_case = [&](std::string op, std::string shapes, std::vector<Tensor> inputs, GradcheckFn f) {
    std::vector<bool> wrt(inputs.size(), true);
    cases.push_back({std::move(op), std::move(shapes), std::move(inputs), std::move(wrt), std::move(f)});
  };
  using V = const std::vector<Variable>&;

  // ---- binary with broadcasting: same shapes, a missing leading axis, size-1 axes on both
  //      sides, a 0-d scalar ----
  std::vector<std::pair<Shape, Shape>> pairs = {
      {{3, 4}, {3, 4}}, {{2, 3, 5}, {5}}, {{4, 1, 3}, {2, 1}}, {{1, 5}, {4, 1}}, {{3}, {}}, {{1}, {2, 3}}};
  for (auto& [sa, sb] : pairs) {
    add_case("add", shapes_of({zeros(sa), zeros(sb)}, " + "), {in.normal(sa), in.normal(sb)}, [](V x) { return x[0] + x[1]; });
    add_case("sub", shapes_of({zeros(sa), zeros(sb)}, " - "), {in.normal(sa), in.normal(sb)}, [](V x) { return x[0] - x[1]; });
    add_case("mul", shapes_of({zeros(sa), zeros(sb)}, " * "), {in.normal(sa), in.normal(sb)}, [](V x) { return x[0] * x[1]; });
    add_case("div", shapes_of({zeros(sa), zeros(sb)}, " / "), {in.normal(sa), in.positive(sb)}, [](V x) { return x[0] / x[1]; });
  }
  for (Shape s : {Shape{3, 4}, Shape{1}, Shape{}}) {
    add_case("add_scalar", shape_str(s) + " + 0.7", {in.normal(s)}, [](V x) { return add(x[0], 0.7); });
    add_case("mul_scalar", shape_str(s) + " * -1.3", {in.normal(s)}, [](V x) { return mul(x[0], -1.3); });
  }

  // ---- unary ----
  for (Shape s : {Shape{3, 4}, Shape{7}, Shape{1, 1}}) {
    add_case("neg", shape_str(s), {in.normal(s)}, [](V x) { return neg(x[0]); });
    add_case("exp", shape_str(s), {in.normal(s)}, [](V x) { return exp(x[0]); });
    add_case("tanh", shape_str(s), {in.normal(s)}, [](V x) { return tanh(x[0]); });
    add_case("erf", shape_str(s), {in.normal(s)}, [](V x) { return erf(x[0]); });
    add_case("log", shape_str(s), {in.positive(s)}, [](V x) { return log(x[0]); });
    add_case("sqrt", shape_str(s), {in.positive(s)}, [](V x) { return sqrt(x[0]); });
    add_case("rsqrt", shape_str(s), {in.positive(s)}, [](V x) { return rsqrt(x[0]); });
    add_case("pow", shape_str(s) + "^3", {in.normal(s)}, [](V x) { return pow(x[0], 3.0); });
    add_case("pow", shape_str(s) + "^-1.5", {in.positive(s)}, [](V x) { return pow(x[0], -1.5); });
  }

  // ---- reductions ----
  for (Shape s : {Shape{3, 4}, Shape{1}, Shape{2, 3, 5}, Shape{5, 1}}) {
    add_case("sum", shape_str(s), {in.normal(s)}, [](V x) { return sum(x[0]); });
    add_case("mean", shape_str(s), {in.normal(s)}, [](V x) { return mean(x[0]); });
    add_case("max", shape_str(s), {in.distinct(s)}, [](V x) { return max(x[0]); });
    add_case("sum_last", shape_str(s), {in.normal(s)}, [](V x) { return sum_last(x[0]); });
    add_case("mean_last", shape_str(s), {in.normal(s)}, [](V x) { return mean_last(x[0]); });
    add_case("max_last", shape_str(s), {in.distinct(s)}, [](V x) { return max_last(x[0]); });
  }

  // ---- matmul: the four transpose combinations, batched, and size-1 edges ----
  struct MatmulShape { int64_t B, M, K, N; };
  for (MatmulShape m : {MatmulShape{0, 3, 5, 4}, MatmulShape{2, 3, 5, 4}, MatmulShape{0, 1, 1, 1}, MatmulShape{0, 1, 7, 1},
                        MatmulShape{3, 2, 1, 3}}) {
    for (int t = 0; t < 4; ++t) {
      bool ta = t & 1, tb = t & 2;
      Shape sa = ta ? Shape{m.K, m.M} : Shape{m.M, m.K};
      Shape sb = tb ? Shape{m.N, m.K} : Shape{m.K, m.N};
      if (m.B) {
        sa.insert(sa.begin(), m.B);
        sb.insert(sb.begin(), m.B);
      }
      std::string shapes = shape_str(sa) + (ta ? "ᵀ" : "") + "·" + shape_str(sb) + (tb ? "ᵀ" : "");
      add_case("matmul", shapes, {in.normal(sa), in.normal(sb)}, [ta, tb](V x) { return matmul(x[0], x[1], ta, tb); });
    }
  }

  // ---- fused ----
  for (Shape s : {Shape{3, 5}, Shape{1, 1}, Shape{2, 1, 7}}) {
    add_case("softmax", shape_str(s), {in.normal(s)}, [](V x) { return softmax(x[0]); });
  }
  for (Shape s : {Shape{4, 4}, Shape{2, 3, 3}, Shape{3, 5}, Shape{1, 1}}) {  // Tq <= Tk
    add_case("softmax_causal", shape_str(s), {in.normal(s)}, [](V x) { return softmax(x[0], true); });
  }
  for (Shape s : {Shape{4, 7}, Shape{2, 3, 5}, Shape{3, 1}, Shape{1, 2}}) {
    Shape c{s.back()};
    add_case("layernorm", shape_str(s) + ", γ β " + shape_str(c), {in.normal(s), in.normal(c), in.normal(c)},
             [](V x) { return layernorm(x[0], x[1], x[2]); });
  }
  for (Shape s : {Shape{3, 4}, Shape{7}, Shape{1}}) {
    add_case("gelu_tanh", shape_str(s), {mul(in.normal(s), 2.0)}, [](V x) { return gelu(x[0], GeluKind::tanh); });
    add_case("gelu_erf", shape_str(s), {mul(in.normal(s), 2.0)}, [](V x) { return gelu(x[0], GeluKind::erf); });
  }
  {
    Tensor ids = from_vector(std::vector<int32_t>{0, 3, 3, 1, 4, 3, 0, 2}, {2, 4});  // repeats accumulate
    add_case("embedding", "weight (5, 3), ids (2, 4)", {in.normal({5, 3})}, [ids](V x) { return embedding(x[0], ids); });
    Tensor same = from_vector(std::vector<int32_t>{0, 0, 0}, {3});
    add_case("embedding", "weight (1, 4), ids (3,)", {in.normal({1, 4})}, [same](V x) { return embedding(x[0], same); });
  }
  {
    Tensor t1 = from_vector(std::vector<int32_t>{2, -100, 0, 5}, {4});  // one ignored row
    add_case("cross_entropy", "logits (4, 6), one target ignored", {in.normal({4, 6})},
             [t1](V x) { return cross_entropy(x[0], t1); });
    Tensor t2 = from_vector(std::vector<int32_t>{1}, {1});
    add_case("cross_entropy", "logits (1, 3)", {in.normal({1, 3})}, [t2](V x) { return cross_entropy(x[0], t2); });
    Tensor t3 = from_vector(std::vector<int32_t>{1, 0, 1, 1, 0}, {5});
    add_case("cross_entropy", "logits (5, 2)", {mul(in.normal({5, 2}), 3.0)}, [t3](V x) { return cross_entropy(x[0], t3); });
  }
  for (Shape s : {Shape{4, 5}, Shape{9}}) {
    // A fresh generator per call: every evaluation draws the same mask.
    add_case("dropout", shape_str(s) + ", p = 0.3", {in.normal(s)}, [](V x) {
      Generator gen{7};
      return dropout(x[0], 0.3, gen);
    });
  }

  // Fused attention: one head and several, with dropout (a fresh generator per call, as above).
  add_case("attention", "qkv (1, 4, 3·2), 1 head", {in.normal({1, 4, 6})},
           [](V x) { return attention(x[0], 1, 0.0, nullptr); });
  add_case("attention", "qkv (2, 5, 3·6), 3 heads", {in.normal({2, 5, 18})},
           [](V x) { return attention(x[0], 3, 0.0, nullptr); });
  add_case("attention", "qkv (2, 3, 3·4), 2 heads, p = 0.3", {in.normal({2, 3, 12})}, [](V x) {
    Generator gen{7};
    return attention(x[0], 2, 0.3, &gen);
  });

  // Fused residual + dropout + layernorm, and cross-entropy handed its logits (the backward
  // writes dlogits over them): the temporary mul(x, 1.0) is held by nothing else.
  for (double p : {0.0, 0.3}) {
    add_case("residual_layernorm", std::string("x, z (2, 3, 5), γ β (5,), p = ") + (p > 0 ? "0.3" : "0"),
             {in.normal({2, 3, 5}), in.normal({2, 3, 5}), in.normal({5}), in.normal({5})}, [p](V x) {
               Generator gen{7};
               return residual_layernorm(x[0], x[1], x[2], x[3], 1e-5, p, p > 0 ? &gen : nullptr);
             });
  }
  {
    Tensor t = from_vector(std::vector<int32_t>{2, -100, 0, 5}, {4});
    add_case("cross_entropy", "logits (4, 6) handed over (dlogits in place)", {in.normal({4, 6})},
             [t](V x) { return cross_entropy(mul(x[0], 1.0), t); });
  }

  // ---- shape ops ----
  add_case("concat", "(2, 3), (2, 1), (2, 4) on axis 1", {in.normal({2, 3}), in.normal({2, 1}), in.normal({2, 4})},
           [](V x) { return concat({x[0], x[1], x[2]}, 1); });
  add_case("concat", "(1, 3), (2, 3) on axis 0", {in.normal({1, 3}), in.normal({2, 3})},
           [](V x) { return concat({x[0], x[1]}, 0); });
  add_case("concat", "x with itself on axis -1", {in.normal({2, 2})}, [](V x) { return concat({x[0], x[0]}, -1); });
  add_case("slice", "(4, 5)[:, 1:4]", {in.normal({4, 5})}, [](V x) { return slice(x[0], 1, 1, 4); });
  add_case("slice", "(4, 5)[0:1]", {in.normal({4, 5})}, [](V x) { return slice(x[0], 0, 0, 1); });
  add_case("slice", "(2, 3, 4)[..., 2:4]", {in.normal({2, 3, 4})}, [](V x) { return slice(x[0], -1, 2, 4); });
  add_case("permute", "(2, 3, 4) -> (2, 0, 1)", {in.normal({2, 3, 4})}, [](V x) { return permute(x[0], {2, 0, 1}); });
  add_case("permute", "(1, 5) -> (1, 0)", {in.normal({1, 5})}, [](V x) { return permute(x[0], {1, 0}); });
  add_case("transpose", "(3, 5) axes 0, 1", {in.normal({3, 5})}, [](V x) { return transpose(x[0], 0, 1); });
  add_case("transpose", "(2, 3, 4) axes 0, -1", {in.normal({2, 3, 4})}, [](V x) { return transpose(x[0], 0, -1); });
  add_case("reshape", "(2, 6) -> (3, 4)", {in.normal({2, 6})}, [](V x) { return reshape(x[0], {3, 4}); });
  add_case("reshape", "(4,) -> (2, -1)", {in.normal({4})}, [](V x) { return reshape(x[0], {2, -1}); });

  // ---- linear layers (the matmul with bias and GELU in its epilogue): x, W, b ----
  add_case("linear", "x (3, 4), W (4, 5), b (5,)", {in.normal({3, 4}), in.normal({4, 5}), in.normal({5})},
           [](V x) { return linear(x[0], x[1], x[2]); });
  add_case("linear", "x (2, 3, 4), W (4, 2), b (2,)", {in.normal({2, 3, 4}), in.normal({4, 2}), in.normal({2})},
           [](V x) { return linear(x[0], x[1], x[2]); });
  add_case("linear_gelu_tanh", "x (2, 5, 3), W (3, 4), b (4,)", {in.normal({2, 5, 3}), in.normal({3, 4}), in.normal({4})},
           [](V x) { return linear_gelu(x[0], x[1], x[2], GeluKind::tanh); });
  add_case("linear_gelu_erf", "x (9, 3), W (3, 6), b (6,)", {in.normal({9, 3}), in.normal({3, 6}), in.normal({6})},
           [](V x) { return linear_gelu(x[0], x[1], x[2], GeluKind::erf); });
  return cases;
}

}  // namespace kiso
