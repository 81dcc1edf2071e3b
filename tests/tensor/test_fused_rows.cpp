// tests/tensor/test_fused_rows.cpp — the fused row ops on the CPU against the unfused ops they
// replace: residual_layernorm (dropout, add, layernorm in one pass) and cross-entropy's backward
// written over its logits. Oracle: the separate ops on the same inputs. The fused CPU code calls
// the same row functions and draws the same Philox numbers, so every comparison is exact (bit for
// bit): a wrong draw, a mask offset by one row, or a different rounding order fails it.
#include <doctest/doctest.h>

#include <vector>

#include "tensor/ops.h"

using namespace kiso;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

void require_same(const Tensor& got, const Tensor& want, const char* what) {
  CAPTURE(what);
  REQUIRE(got.shape() == want.shape());
  std::vector<double> g = values(got), w = values(want);
  for (size_t i = 0; i < w.size(); ++i) {
    CAPTURE(i);
    REQUIRE(g[i] == w[i]);
  }
}

}  // namespace

TEST_SUITE("tensor") {

TEST_CASE("residual_layernorm is dropout, add and layernorm, bit for bit, forward and backward") {
  // C = 37 and 70: rows start inside a 64-draw group and cross its end; offset 8: not 0. p = 0
  // is the eval path (no draws), p = 0.5 drops about half.
  for (DType dtype : {DType::f32, DType::f64}) {
    for (int64_t C : {37, 70}) {
      for (double p : {0.0, 0.5}) {
        CAPTURE(to_string(dtype));
        CAPTURE(C);
        CAPTURE(p);
        Generator gen{5};
        Shape shape{3, 5, C};  // 15 rows
        Tensor x = randn(shape, gen, dtype), z = randn(shape, gen, dtype), dy = randn(shape, gen, dtype);
        Tensor gamma = randn({C}, gen, dtype), beta = randn({C}, gen, dtype);
        PhiloxState state{11, 3, 8};
        ResidualLayerNormOutput f = residual_layernorm_forward(x, z, gamma, beta, 1e-5, p, state);
        Tensor s = add(x, dropout(z, p, state));
        LayerNormOutput want = layernorm_forward(s, gamma, beta, 1e-5);
        require_same(f.s, s, "s");
        require_same(f.y, want.y, "y");
        require_same(f.mean, want.mean, "mean");
        require_same(f.rstd, want.rstd, "rstd");

        ResidualLayerNormGrads g = residual_layernorm_backward(dy, f.s, f.mean, f.rstd, gamma, p, state);
        LayerNormGrads wg = layernorm_backward(dy, s, want.mean, want.rstd, gamma);
        require_same(g.dx, wg.dx, "dx");
        require_same(g.dz, dropout(wg.dx, p, state), "dz");
        require_same(g.dgamma, wg.dgamma, "dgamma");
        require_same(g.dbeta, wg.dbeta, "dbeta");
        if (p > 0) {  // the mask really drops: some dz are 0 where dx is not
          std::vector<double> dz = values(g.dz), dx = values(g.dx);
          int dropped = 0;
          for (size_t i = 0; i < dz.size(); ++i) dropped += dz[i] == 0 && dx[i] != 0;
          CHECK(dropped > int(dz.size()) / 4);
        }
      }
    }
  }
}

TEST_CASE("residual_layernorm says what is wrong with its inputs") {
  Tensor x = zeros({2, 4}), gamma = ones({4}), beta = zeros({4});
  CHECK_THROWS_WITH(residual_layernorm_forward(x, zeros({2, 3}), gamma, beta, 1e-5, 0.1, {}),
                    doctest::Contains("x has shape (2, 4) but z has shape (2, 3)"));
  CHECK_THROWS_WITH(residual_layernorm_forward(x, x, gamma, beta, 1e-5, 1.0, {}), doctest::Contains("p must be in [0, 1)"));
  CHECK_THROWS_WITH(residual_layernorm_forward(x, x, gamma, beta, 1e-5, 0.1, PhiloxState{1, 0, 2}),
                    doctest::Contains("multiple of 4"));
  CHECK_THROWS_WITH(residual_layernorm_forward(x, x, ones({3}), beta, 1e-5, 0.1, {}),
                    doctest::Contains("gamma must have shape (4,)"));
}

TEST_CASE("cross_entropy_backward in place writes the fresh buffer's numbers over the logits") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Generator gen{9};
    Tensor logits = mul(randn({6, 33}, gen, dtype), 2.0);
    Tensor targets = from_vector(std::vector<int32_t>{3, -100, 0, 32, 7, 7}, {6});
    Tensor want = cross_entropy_backward(logits, targets, 0.6);
    Tensor mine = logits.clone();  // held by this test alone
    Tensor got = cross_entropy_backward(mine, targets, 0.6, -100, true);
    CHECK(got.shares_storage_with(mine));
    require_same(got, want, "dlogits");
    // a view of the logits elsewhere: their numbers are someone's, so in place is refused
    Tensor view = mine.reshape({-1});
    CHECK_THROWS_WITH(cross_entropy_backward(mine, targets, 0.6, -100, true), doctest::Contains("in_place needs"));
  }
}

}  // TEST_SUITE
