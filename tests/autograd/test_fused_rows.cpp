// tests/autograd/test_fused_rows.cpp — the fused row ops as differentiable functions: autograd's
// residual_layernorm against the unfused dropout, add and layernorm it replaces (values, every
// gradient, and the generator's position afterwards: the random stream must be the one the
// unfused ops consumed), the GPT-1 Block written out with the unfused ops, and cross_entropy with
// logits handed over (dlogits written over them) against logits the caller keeps. Oracle: the
// unfused ops on the CPU, which run the same row functions: every comparison is exact.
#include <doctest/doctest.h>

#include <vector>

#include "autograd/functions.h"
#include "nn/modules.h"

using namespace kiso;

namespace {

void require_same(const Tensor& got, const Tensor& want, const char* what) {
  CAPTURE(what);
  REQUIRE(got.shape() == want.shape());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < w.size(); ++i) {
    CAPTURE(i);
    REQUIRE(g[i] == w[i]);
  }
}

}  // namespace

TEST_SUITE("autograd") {

TEST_CASE("residual_layernorm: dropout, add and layernorm's values, gradients and draws") {
  for (double p : {0.0, 0.25}) {
    CAPTURE(p);
    Generator data{3};
    Tensor xv = randn({2, 3, 6}, data), zv = randn({2, 3, 6}, data), gv = randn({6}, data), bv = randn({6}, data);
    Tensor dy = randn({2, 3, 6}, data);
    auto run = [&](bool fused, Generator& gen) {
      Variable x(xv.clone(), true), z(zv.clone(), true), gamma(gv.clone(), true), beta(bv.clone(), true);
      // z is used twice so that its gradient accumulates (+=) from both uses
      Variable branch = z * z;
      Variable y = fused ? residual_layernorm(x, branch, gamma, beta, 1e-5, p, p > 0 ? &gen : nullptr)
                         : layernorm(x + (p > 0 ? dropout(branch, p, gen) : branch), gamma, beta, 1e-5);
      y.backward(dy);
      return std::vector<Tensor>{y.value(), x.grad(), z.grad(), gamma.grad(), beta.grad()};
    };
    Generator gen_fused{9, 2}, gen_plain{9, 2};
    gen_fused.offset = gen_plain.offset = 40;
    std::vector<Tensor> f = run(true, gen_fused), u = run(false, gen_plain);
    const char* names[] = {"y", "dx", "dz", "dgamma", "dbeta"};
    for (size_t i = 0; i < f.size(); ++i) require_same(f[i], u[i], names[i]);
    CHECK(gen_fused.offset == gen_plain.offset);  // the same take from the stream
  }
}

TEST_CASE("the GPT-1 Block's fused sums are its unfused ops, draws included") {
  // The Block as it read before the fusion: h = LN1(x + dropout(attn(x))), out = LN2(h + dropout(MLP(h))).
  BlockConfig c;
  c.n_embd = 8, c.n_head = 2, c.n_inner = 16, c.attn_pdrop = 0.2, c.resid_pdrop = 0.3;
  Generator init{5};
  Block block(c, Init{&init});
  Generator data{6};
  Tensor xv = randn({2, 4, 8}, data), dy = randn({2, 4, 8}, data);
  Generator rng_fused{11}, rng_plain{11};
  Variable x1(xv.clone(), true), x2(xv.clone(), true);
  Variable out_fused = block.forward(x1, Mode::train(rng_fused));
  Mode m = Mode::train(rng_plain);
  Variable h = block.ln_1.forward(x2 + block.attn.resid_dropout.forward(block.attn.forward(x2, m), m));
  Variable out_plain = block.ln_2.forward(h + block.mlp.dropout.forward(block.mlp.forward(h, m), m));
  require_same(out_fused.value(), out_plain.value(), "out");
  CHECK(rng_fused.offset == rng_plain.offset);
  out_fused.backward(dy);
  Tensor g_fused = x1.grad();
  Parameters ps = block.parameters();
  std::vector<Tensor> pg_fused;
  for (const NamedParameter& p : ps) pg_fused.push_back(p.variable->grad().clone()), p.variable->zero_grad();
  out_plain.backward(dy);
  require_same(g_fused, x2.grad(), "dx");
  for (size_t i = 0; i < ps.size(); ++i) require_same(pg_fused[i], ps[i].variable->grad(), ps[i].name.c_str());
}

TEST_CASE("cross_entropy: logits handed over give the kept logits' gradients, and kept logits stay") {
  Generator data{2};
  Tensor hv = randn({5, 4}, data), wv = randn({4, 9}, data);
  Tensor targets = from_vector(std::vector<int32_t>{1, 8, -100, 0, 1}, {5});
  auto grads = [&](int how) {
    Variable h(hv.clone(), true), w(wv.clone(), true);
    Variable loss, kept;
    Tensor kept_before;
    if (how == 0) {  // a temporary, held by nothing else: dlogits written over the logits
      loss = cross_entropy(matmul(h, w), targets);
    } else if (how == 1) {  // the caller keeps the Variable
      kept = matmul(h, w);
      kept_before = kept.value().clone();
      loss = cross_entropy(kept, targets);
    } else {  // handed over, but another handle to it lives: not in place either
      kept = matmul(h, w);
      kept_before = kept.value().clone();
      Variable handed = kept;
      loss = cross_entropy(std::move(handed), targets);
    }
    loss.backward();
    if (how != 0) require_same(kept.value(), kept_before, "kept logits after backward");
    return std::vector<Tensor>{loss.value(), h.grad(), w.grad()};
  };
  std::vector<Tensor> handed = grads(0), kept = grads(1), shared = grads(2);
  for (size_t i = 0; i < handed.size(); ++i) {
    require_same(handed[i], kept[i], "handed vs kept");
    require_same(shared[i], kept[i], "shared handle vs kept");
  }
}

}  // TEST_SUITE
