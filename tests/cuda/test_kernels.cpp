// tests/cuda/test_kernels.cpp — parity of the CUDA backend's ops with the CPU ops, on every
// device there is: the simulator always (so CI runs every kernel), and the GPU when one is
// usable: binary and unary elementwise ops, reductions, matmul. Sizes are odd and not multiples
// of the blocks or tiles. Oracle: the CPU op on the same inputs; each tolerance is derived where
// it is used (0 where both sides do the same IEEE operations).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "cuda/runtime.h"
#include "tests/cuda/each_device.h"
#include "tensor/ops.h"

using namespace kiso;
using kiso::testing::on_each_device;

namespace {

// A tensor's values on the host, as doubles, from either device and dtype.
std::vector<double> values(const Tensor& t) { return to_dtype(t.to(Device::cpu), DType::f64).to_vector<double>(); }

// matmul on cuda against the cpu. Both sides compute each c_ij as a sum of K products in their
// own order; each is within γ_K · Σ_k |a_ik b_kj| (γ_K ≈ K·u, u the unit roundoff) of the exact
// value, so the two are within 2·K·u · (|a|·|b|)_ij of each other; (|a|·|b|) is computed on the
// cpu in f64.
void check_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor want = matmul(a, b, ta, tb);
  Tensor got = matmul(a.to(Device::cuda), b.to(Device::cuda), ta, tb);
  REQUIRE(got.is_cuda());
  REQUIRE(got.shape() == want.shape());
  auto absolute = [](const Tensor& t) {
    std::vector<double> v = values(t);
    for (double& x : v) x = std::abs(x);
    return from_vector(v, t.shape());
  };
  std::vector<double> bound = values(matmul(absolute(a), absolute(b), ta, tb));
  double u = a.dtype() == DType::f32 ? 0x1p-24 : 0x1p-53;
  int64_t K = ta ? a.size(-2) : a.size(-1);
  std::vector<double> g = values(got), w = values(want);
  for (size_t i = 0; i < w.size(); ++i) REQUIRE(std::abs(g[i] - w[i]) <= 2 * double(K) * u * bound[i]);
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

TEST_CASE("unary and scalar ops: cuda equals the cpu, exactly on the simulator") {
  // The simulator runs the CPU's own expressions (std::exp, ...): bit-identical. A GPU's math
  // library may round the last place differently: CUDA documents at most 2 ulp for expf, logf,
  // tanhf, erff (4 for powf) and 1-2 ulp in f64, so the GPU check allows 8 ulp of the result
  // (relative 8·2^-23 ≈ 1e-6 in f32, 8·2^-52 ≈ 2e-15 in f64) plus that much absolutely near 0.
  using Op = std::function<Tensor(const Tensor&)>;
  std::vector<std::pair<const char*, Op>> ops = {
      {"add s", [](const Tensor& x) { return add(x, 0.3); }}, {"mul s", [](const Tensor& x) { return mul(x, -1.7); }},
      {"neg", [](const Tensor& x) { return kiso::neg(x); }}, {"exp", [](const Tensor& x) { return kiso::exp(x); }},
      {"log", [](const Tensor& x) { return kiso::log(x); }}, {"tanh", [](const Tensor& x) { return kiso::tanh(x); }},
      {"sqrt", [](const Tensor& x) { return kiso::sqrt(x); }}, {"rsqrt", [](const Tensor& x) { return rsqrt(x); }},
      {"erf", [](const Tensor& x) { return kiso::erf(x); }},
      {"pow", [](const Tensor& x) { return pow(x, 1.5); }}};
  on_each_device([&](const std::string& device) {
    for (DType dtype : {DType::f32, DType::f64}) {
      Generator gen{31};
      Tensor x = add(mul(rand({7, 131}, gen, dtype), 4.0), 0.05);  // 917 values in [0.05, 4.05): every op defined
      double ulp = dtype == DType::f32 ? 1.0 / (1 << 23) : 1.0 / double(int64_t(1) << 52);
      for (const auto& [name, op] : ops) {
        std::string op_name = name;
        CAPTURE(device);
        CAPTURE(op_name);
        Tensor want = to_dtype(op(x), DType::f64);
        Tensor got = op(x.to(Device::cuda));
        REQUIRE(got.is_cuda());
        std::vector<double> w = want.to_vector<double>();
        std::vector<double> g = to_dtype(got.to(Device::cpu), DType::f64).to_vector<double>();
        REQUIRE(w.size() == g.size());
        for (size_t i = 0; i < w.size(); ++i) {
          if (device == "simulator") REQUIRE(g[i] == w[i]);
          else REQUIRE(std::abs(g[i] - w[i]) <= 8 * ulp * std::max(1.0, std::abs(w[i])));
        }
      }
    }
  });
}

TEST_CASE("reductions: sum, mean, max, argmax over the last axis and the whole tensor") {
  // max and argmax pick an element: exact. Sums add in double in another order than the CPU's
  // sequential loop: the two differ by at most cols · 2^-52 · Σ|x| (the f64 rounding of each
  // addition), then the f32 result may round to the neighbouring float: 2^-23 · |sum| more.
  on_each_device([&](const std::string& device) {
    for (DType dtype : {DType::f32, DType::f64})
      for (Shape shape : {Shape{5, 3}, Shape{2, 3, 300}, Shape{1, 1000}, Shape{4, 257}, Shape{7}}) {
        CAPTURE(device);
        std::string shape_text = shape_str(shape);
        CAPTURE(shape_text);
        Generator gen{41};
        Tensor x = randn(shape, gen, dtype);
        Tensor xd = x.to(Device::cuda);
        CHECK(values(max_last(xd)) == values(max_last(x)));
        CHECK(argmax_last(xd).to(Device::cpu).to_vector<int32_t>() == argmax_last(x).to_vector<int32_t>());
        CHECK(max(xd).to(Device::cpu).item() == max(x).item());
        int64_t cols = x.size(-1), rows = x.numel() / cols;
        double f32_round = dtype == DType::f32 ? 0x1p-23 : 0.0;
        std::vector<double> xv = values(x), abs_sums(static_cast<size_t>(rows), 0.0);
        for (int64_t i = 0; i < x.numel(); ++i) abs_sums[size_t(i / cols)] += std::abs(xv[size_t(i)]);
        std::vector<double> got = values(sum_last(xd)), want = values(sum_last(x));
        std::vector<double> mgot = values(mean_last(xd)), mwant = values(mean_last(x));
        for (size_t r = 0; r < want.size(); ++r) {
          double bound = double(cols) * 0x1p-52 * abs_sums[r] + f32_round * std::abs(want[r]);
          CHECK(std::abs(got[r] - want[r]) <= bound);
          // the mean is the sum times 1/cols, rounded once more on each side
          CHECK(std::abs(mgot[r] - mwant[r]) <= bound / double(cols) + 2 * f32_round * std::abs(mwant[r]));
        }
        double total = sum(xd).to(Device::cpu).item(), total_want = sum(x).item(), abs_total = 0;
        for (double v : abs_sums) abs_total += v;
        CHECK(std::abs(total - total_want) <=
              double(x.numel()) * 0x1p-52 * abs_total + f32_round * std::abs(total_want));
      }
    // ties: the first maximum wins, on every device
    Tensor ties = full({2, 600}, 1.0);
    CHECK(argmax_last(ties.to(Device::cuda)).to(Device::cpu).to_vector<int32_t>() == std::vector<int32_t>{0, 0});
  });
}

TEST_CASE("matmul, batched and transposed: cuda within the rounding bound of the cpu") {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          int64_t batch = 3, M = 33, K = 47, N = 29;  // no multiple of the 16-wide tiles
          Generator gen{51};
          Tensor a = randn(ta ? Shape{batch, K, M} : Shape{batch, M, K}, gen, dtype);
          Tensor b = randn(tb ? Shape{batch, N, K} : Shape{batch, K, N}, gen, dtype);
          CAPTURE(ta);
          CAPTURE(tb);
          check_matmul(a, b, ta, tb);
        }
    Generator gen{52};
    check_matmul(randn({5, 3}, gen), randn({3, 4}, gen), false, false);  // a plain rank-2 product
    // an empty inner dimension: all zeros, as on the cpu
    Tensor empty = matmul(zeros({2, 0}).to(Device::cuda), zeros({0, 3}).to(Device::cuda));
    CHECK(empty.is_cuda());
    CHECK(values(empty) == std::vector<double>(6, 0.0));
  });
}

TEST_CASE("softmax forward (plain and causal) and backward: cuda within a few ulp of the cpu") {
  // y_j = e_j / Σe: the cpu sums in T (Eigen's vector order) and evaluates exp with Eigen's
  // SIMD polynomial, the kernel sums in double and calls exp: each y_j may differ by a few ulp
  // of exp plus the relative error of the sum, ≤ cols·u. Allowed: (cols + 8)·u·max(y, ...) per
  // element. Backward: dx_j = y_j (dy_j - Σ dy·y), with the dot product likewise ≤ cols·u·Σ|dy·y|
  // apart: (|dy_j| + |dot| + Σ|dy·y|)·(cols + 8)·u·|y_j| covers both.
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64})
      for (bool causal : {false, true})
        for (Shape shape : {Shape{2, 3, 5, 5}, Shape{4, 300}, Shape{3, 7, 9}}) {
          CAPTURE(causal);
          std::string shape_text = shape_str(shape);
          CAPTURE(shape_text);
          Generator gen{61};
          Tensor x = mul(randn(shape, gen, dtype), 3.0), dy = randn(shape, gen, dtype);
          double u = dtype == DType::f32 ? 0x1p-24 : 0x1p-53;
          int64_t cols = shape.back();
          std::vector<double> yw = values(softmax_forward(x, causal));
          Tensor yd = softmax_forward(x.to(Device::cuda), causal);
          REQUIRE(yd.is_cuda());
          std::vector<double> yg = values(yd);
          for (size_t i = 0; i < yw.size(); ++i) {
            if (yw[i] == 0) REQUIRE(yg[i] == 0);  // masked: exactly 0 on both
            REQUIRE(std::abs(yg[i] - yw[i]) <= double(cols + 8) * u * yw[i]);
          }
          // backward from the same y (the cpu's, on both sides) and dy
          Tensor y = softmax_forward(x, causal);
          std::vector<double> dxw = values(softmax_backward(y, dy));
          std::vector<double> dxg = values(softmax_backward(y.to(Device::cuda), dy.to(Device::cuda)));
          std::vector<double> yv = values(y), dyv = values(dy);
          for (size_t r = 0; r < yv.size() / size_t(cols); ++r) {
            double dot = 0, abs_dot = 0;
            for (size_t j = r * size_t(cols); j < (r + 1) * size_t(cols); ++j)
              dot += yv[j] * dyv[j], abs_dot += std::abs(yv[j] * dyv[j]);
            for (size_t j = r * size_t(cols); j < (r + 1) * size_t(cols); ++j)
              REQUIRE(std::abs(dxg[j] - dxw[j]) <=
                      (std::abs(dyv[j]) + std::abs(dot) + abs_dot) * double(cols + 8) * u * yv[j]);
          }
        }
  });
}

TEST_CASE("gelu forward and backward, tanh and erf forms: cuda within a few ulp of the cpu") {
  // The cpu evaluates tanh with Eigen's SIMD rational approximation (erf and exp with the C
  // library), the kernel with the device's (on the simulator: the C library): a few ulp apart.
  // Through y = 0.5 x (1 + t) and the derivative's polynomial (1 + 3·0.044715 x²) that becomes
  // at most 64 ulp of (1 + x²)·(1 + |dy|): generous for |x| < 7, where these inputs are.
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64})
      for (GeluKind kind : {GeluKind::tanh, GeluKind::erf}) {
        bool exact = kind == GeluKind::erf;
        CAPTURE(exact);
        Generator gen{71};
        Tensor x = mul(randn({9, 131}, gen, dtype), 2.0), dy = randn({9, 131}, gen, dtype);
        double u = dtype == DType::f32 ? 0x1p-24 : 0x1p-53;
        std::vector<double> xv = values(x), dyv = values(dy);
        std::vector<double> yw = values(gelu_forward(x, kind)), yg = values(gelu_forward(x.to(Device::cuda), kind));
        std::vector<double> dxw = values(gelu_backward(x, dy, kind));
        std::vector<double> dxg = values(gelu_backward(x.to(Device::cuda), dy.to(Device::cuda), kind));
        for (size_t i = 0; i < xv.size(); ++i) {
          double scale = 64 * u * (1 + xv[i] * xv[i]);
          REQUIRE(std::abs(yg[i] - yw[i]) <= scale);
          REQUIRE(std::abs(dxg[i] - dxw[i]) <= scale * (1 + std::abs(dyv[i])));
        }
      }
  });
}

TEST_CASE("layernorm forward and backward: cuda within the rounding bound of the cpu") {
  // Both sides take row means in another order (the cpu in T with Eigen, the kernel in double),
  // each within C·u of the exact mean of |terms|; every output is a few operations on those
  // means. Allowed: 4·(C + 16)·u times the size of what enters each output: (1 + |x̂|)·(1 + |γ|
  // + |β|) for y and x̂; rstd·(|g| + mean|g| + |x̂|·mean|g x̂|) for dx; Σ_rows of |dy|·(1 + |x̂|)
  // for dγ and dβ (rows added in another order: N·u of that sum).
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64})
      for (Shape shape : {Shape{5, 7}, Shape{2, 3, 300}, Shape{4, 257}}) {
        std::string shape_text = shape_str(shape);
        CAPTURE(shape_text);
        Generator gen{81};
        int64_t C = shape.back(), N = numel_of(shape) / C;
        Tensor x = add(mul(randn(shape, gen, dtype), 2.0), 0.5), dy = randn(shape, gen, dtype);
        Tensor gamma = randn({C}, gen, dtype), beta = randn({C}, gen, dtype);
        double tol = 4 * double(C + 16) * (dtype == DType::f32 ? 0x1p-24 : 0x1p-53);
        LayerNormOutput w = layernorm_forward(x, gamma, beta, 1e-5);
        LayerNormOutput g = layernorm_forward(x.to(Device::cuda), gamma.to(Device::cuda), beta.to(Device::cuda), 1e-5);
        REQUIRE(g.y.is_cuda());
        std::vector<double> xv = values(x), gv = values(gamma), bv = values(beta), dyv = values(dy);
        std::vector<double> mean = values(w.mean), rstd = values(w.rstd), yw = values(w.y), yg = values(g.y);
        std::vector<double> mg = values(g.mean), rg = values(g.rstd);
        std::vector<double> xhat(xv.size());
        for (size_t i = 0; i < xv.size(); ++i) xhat[i] = (xv[i] - mean[i / size_t(C)]) * rstd[i / size_t(C)];
        for (size_t n = 0; n < size_t(N); ++n) {
          REQUIRE(std::abs(mg[n] - mean[n]) <= tol * (1 + std::abs(mean[n]) + 1 / rstd[n]));
          REQUIRE(std::abs(rg[n] - rstd[n]) <= tol * rstd[n]);
        }
        for (size_t i = 0; i < xv.size(); ++i) {
          size_t c = i % size_t(C);
          REQUIRE(std::abs(yg[i] - yw[i]) <= tol * (1 + std::abs(xhat[i])) * (1 + std::abs(gv[c]) + std::abs(bv[c])));
        }
        LayerNormGrads gw = layernorm_backward(dy, x, w.mean, w.rstd, gamma);
        LayerNormGrads gg = layernorm_backward(dy.to(Device::cuda), x.to(Device::cuda), w.mean.to(Device::cuda),
                                               w.rstd.to(Device::cuda), gamma.to(Device::cuda));
        std::vector<double> dxw = values(gw.dx), dxg = values(gg.dx);
        for (size_t n = 0; n < size_t(N); ++n) {
          double mg_abs = 0, mgx_abs = 0;
          for (size_t c = 0; c < size_t(C); ++c) {
            double gi = dyv[n * size_t(C) + c] * gv[c];
            mg_abs += std::abs(gi) / double(C), mgx_abs += std::abs(gi * xhat[n * size_t(C) + c]) / double(C);
          }
          for (size_t c = 0; c < size_t(C); ++c) {
            size_t i = n * size_t(C) + c;
            double gi = std::abs(dyv[i] * gv[c]);
            REQUIRE(std::abs(dxg[i] - dxw[i]) <= tol * rstd[n] * (gi + mg_abs + std::abs(xhat[i]) * mgx_abs));
          }
        }
        std::vector<double> dgw = values(gw.dgamma), dgg = values(gg.dgamma), dbw = values(gw.dbeta),
                            dbg = values(gg.dbeta);
        for (size_t c = 0; c < size_t(C); ++c) {
          double size = 0;
          for (size_t n = 0; n < size_t(N); ++n)
            size += std::abs(dyv[n * size_t(C) + c]) * (1 + std::abs(xhat[n * size_t(C) + c]));
          double bound = 4 * double(N + 16) * (dtype == DType::f32 ? 0x1p-24 : 0x1p-53) * size;
          REQUIRE(std::abs(dgg[c] - dgw[c]) <= bound);
          REQUIRE(std::abs(dbg[c] - dbw[c]) <= bound);
        }
      }
  });
}

TEST_CASE("binary ops refuse inputs on two devices, and other dtypes, by name") {
  on_each_device([&](const std::string&) {
    Tensor c = ones({2}).to(Device::cuda);
    CHECK_THROWS_WITH_AS(add(c, ones({2})), doctest::Contains("add: inputs on different devices: cuda and cpu"), Error);
    CHECK_THROWS_WITH_AS(mul(c, ones({2}, DType::f64).to(Device::cuda)),
                         doctest::Contains("mul: dtypes differ: f32 (2,) and f64 (2,)"), Error);
    CHECK_THROWS_WITH_AS(sub(c, ones({3}).to(Device::cuda)), doctest::Contains("cannot be broadcast"), Error);
    CHECK_THROWS_WITH_AS(matmul(c.reshape({1, 2}), ones({2, 1})),
                         doctest::Contains("matmul: inputs on different devices: cuda and cpu"), Error);
    CHECK_THROWS_WITH_AS(exp(ones({2}, DType::i32).to(Device::cuda)),
                         doctest::Contains("exp: input must be f32 or f64, got i32"), Error);
  });
}

}  // TEST_SUITE
