// tests/nn/test_modules.cpp — the GPT-1 building blocks. Oracles: naive double loops written
// here (Linear, attention), a property only the post-LN block has (each output position is
// normalised), and finite differences (module_gradcheck_cases, also printed by `kiso gradcheck`).
#include <doctest/doctest.h>

#include <cmath>

#include "nn/gradcheck_cases.h"
#include "nn/modules.h"

using namespace kiso;

static double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

TEST_SUITE("nn") {

TEST_CASE("Linear computes x·W + b with W stored (in, out)") {
  Generator gen{1};
  Init init{&gen, DType::f64, 1.0};
  Linear lin(5, 4, init);
  lin.bias = Variable(randn({4}, gen, DType::f64), true);
  Variable x(randn({2, 3, 5}, gen, DType::f64));
  Variable y = lin.forward(x);
  CHECK(y.shape() == Shape{2, 3, 4});
  std::vector<double> vx = x.value().to_vector<double>(), W = lin.weight.value().to_vector<double>(),
                      b = lin.bias.value().to_vector<double>(), want;
  for (int n = 0; n < 6; ++n)
    for (int o = 0; o < 4; ++o) {
      double s = b[size_t(o)];
      for (int i = 0; i < 5; ++i) s += vx[size_t(n * 5 + i)] * W[size_t(i * 4 + o)];
      want.push_back(s);
    }
  CHECK(max_abs_diff(y.value().to_vector<double>(), want) < 1e-12);  // f64, 5-term sums
  CHECK_THROWS_WITH_AS(lin.forward(Variable(zeros({2, 6}, DType::f64))), doctest::Contains("expected last axis 5"), Error);
}

TEST_CASE("CausalSelfAttention matches a naive per-head loop") {
  Generator gen{2};
  Init init{&gen, DType::f64, 0.5};
  const int64_t B = 2, T = 4, C = 6, NH = 3, HS = 2;
  CausalSelfAttention attn({.n_embd = C, .n_head = NH, .attn_pdrop = 0, .resid_pdrop = 0}, init);
  Variable x(randn({B, T, C}, gen, DType::f64));
  std::vector<double> got = attn.forward(x, Mode::eval()).value().to_vector<double>();

  // Oracle: qkv = x·Wa + ba; per head, scores q_i·k_j/√HS for j <= i, softmax, mix v; then c_proj.
  std::vector<double> vx = x.value().to_vector<double>(), Wa = attn.c_attn.weight.value().to_vector<double>(),
                      ba = attn.c_attn.bias.value().to_vector<double>(), Wp = attn.c_proj.weight.value().to_vector<double>(),
                      bp = attn.c_proj.bias.value().to_vector<double>();
  std::vector<double> qkv(size_t(B * T * 3 * C)), y(size_t(B * T * C), 0.0), want(size_t(B * T * C));
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t o = 0; o < 3 * C; ++o) {
      double s = ba[size_t(o)];
      for (int64_t i = 0; i < C; ++i) s += vx[size_t(n * C + i)] * Wa[size_t(i * 3 * C + o)];
      qkv[size_t(n * 3 * C + o)] = s;
    }
  auto at = [&](int64_t b, int64_t t, int64_t part, int64_t h, int64_t d) {
    return qkv[size_t((b * T + t) * 3 * C + part * C + h * HS + d)];
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> w(size_t(i + 1));
        double total = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double s = 0;
          for (int64_t d = 0; d < HS; ++d) s += at(b, i, 0, h, d) * at(b, j, 1, h, d);
          w[size_t(j)] = std::exp(s / std::sqrt(double(HS)));
          total += w[size_t(j)];
        }
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t d = 0; d < HS; ++d) y[size_t((b * T + i) * C + h * HS + d)] += w[size_t(j)] / total * at(b, j, 2, h, d);
      }
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t o = 0; o < C; ++o) {
      double s = bp[size_t(o)];
      for (int64_t i = 0; i < C; ++i) s += y[size_t(n * C + i)] * Wp[size_t(i * C + o)];
      want[size_t(n * C + o)] = s;
    }
  CHECK(max_abs_diff(got, want) < 1e-12);  // f64 throughout; sums of at most 3C terms
}

TEST_CASE("a post-LN block's output is normalised at every position; a pre-LN block's is not") {
  Generator gen{3};
  Init init{&gen, DType::f64, 0.5};
  Variable x(mul(randn({2, 5, 8}, gen, DType::f64), 3.0));
  for (bool pre : {false, true}) {
    BlockConfig config{.n_embd = 8, .n_head = 2, .n_inner = 16, .attn_pdrop = 0, .resid_pdrop = 0,
                       .norm = pre ? Norm::pre : Norm::post};
    Block block(config, init);  // LN gains 1, biases 0
    Tensor y = block.forward(x, Mode::eval()).value();
    std::vector<double> m = mean_last(y).to_vector<double>();
    std::vector<double> var = mean_last(mul(y, y)).to_vector<double>();
    double worst = 0;
    for (size_t r = 0; r < m.size(); ++r) worst = std::max({worst, std::abs(m[r]), std::abs(var[r] - m[r] * m[r] - 1)});
    // LayerNorm output has mean 0 and variance var/(var + eps) ≈ 1 - eps/var: within 1e-4 for
    // these inputs (var ≫ 0.1); a pre-LN block adds the raw residual, far from normalised.
    if (pre) CHECK(worst > 0.1);
    else CHECK(worst < 1e-4);
  }
}

TEST_CASE("Block names its parameters like Hugging Face openai-gpt, in a fixed order") {
  Generator gen{4};
  Block block({.n_embd = 8, .n_head = 2, .n_inner = 32}, Init{&gen});
  std::vector<std::string> names;
  for (const NamedParameter& p : block.parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                                          "attn.c_proj.bias", "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight",
                                          "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias", "ln_2.weight",
                                          "ln_2.bias"});
  CHECK(block.attn.c_attn.weight.shape() == Shape{8, 24});
  CHECK(block.mlp.c_fc.weight.shape() == Shape{8, 32});
  CHECK(block.ln_1.weight.value().to_vector<float>() == std::vector<float>(8, 1.0f));
  CHECK(block.attn.c_attn.bias.value().to_vector<float>() == std::vector<float>(24, 0.0f));
}

TEST_CASE("initial weights are N(0, 0.02)") {
  Generator gen{5};
  Linear lin(256, 256, Init{&gen});
  std::vector<float> w = lin.weight.value().to_vector<float>();
  double s = 0, s2 = 0;
  for (float v : w) s += v, s2 += double(v) * v;
  double mean = s / double(w.size()), sd = std::sqrt(s2 / double(w.size()) - mean * mean);
  // 65536 samples: the mean's standard error is 0.02/256 ≈ 8e-5, the sd's ≈ 0.02/362 ≈ 6e-5;
  // 5 standard errors of margin.
  CHECK(std::abs(mean) < 4e-4);
  CHECK(std::abs(sd - 0.02) < 3e-4);
}

TEST_CASE("Dropout is the identity in eval and draws its mask from the generator in training") {
  Variable x(ones({1000}));
  Dropout drop{0.25};
  CHECK(drop.forward(x, Mode::eval()).value().shares_storage_with(x.value()));
  Generator a{8}, b{8}, c{9};
  std::vector<float> ya = drop.forward(x, Mode::train(a)).value().to_vector<float>();
  CHECK(ya == drop.forward(x, Mode::train(b)).value().to_vector<float>());
  CHECK(ya != drop.forward(x, Mode::train(c)).value().to_vector<float>());
  CHECK_THROWS_WITH_AS(drop.forward(x, Mode{true, nullptr}), doctest::Contains("needs a generator"), Error);
}

TEST_CASE("masked_mean averages only where the mask is 1") {
  Variable v(from_vector({1, 2, 3, 4}, {2, 2}, DType::f64), true);
  Tensor mask = from_vector({1, 0, 1, 1}, {2, 2}, DType::f64);
  Variable m = masked_mean(v, mask);
  CHECK(m.value().item() == doctest::Approx((1 + 3 + 4) / 3.0).epsilon(1e-15));
  m.backward();
  CHECK(v.grad().to_vector<double>() == std::vector<double>{1 / 3.0, 0, 1 / 3.0, 1 / 3.0});
  CHECK_THROWS_WITH_AS(masked_mean(v, zeros({2, 2}, DType::f64)), doctest::Contains("selects no element"), Error);
}

TEST_CASE("every module passes gradcheck") {
  for (const GradcheckCase& c : module_gradcheck_cases()) {
    GradcheckResult r = gradcheck(c.f, c.inputs, c.wrt);
    INFO(c.op, " ", c.shapes, ": ", r.worst);
    CHECK(r.passed);
  }
}

}  // TEST_SUITE
