// tests/nn/test_optim.cpp — optimizer updates, AdamW/SGD over parameter lists, gradient
// clipping and learning-rate schedules, each against an independent oracle: the PyTorch
// formulas written out as naive double loops, hand-computed numbers, or plain arithmetic. The
// vectorised, multi-tensor passes of tensor/ops_optim.cpp are checked for equality against its
// plain loops, copied here.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "nn/optim.h"
#include "nn/schedule.h"

using namespace kiso;

namespace {

// Sets the OpenMP thread count for one scope and restores it, so no later test sees it.
struct ThreadCount {
  int saved = omp_get_max_threads();
  explicit ThreadCount(int n) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(saved); }
};

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// The oracle: torch.optim.AdamW's update written exactly as the documentation states it, one
// element at a time in double, with t the 1-based step.
struct NaiveAdamW {
  std::vector<double> p, m, v;
  void step(const std::vector<double>& g, double lr, double b1, double b2, double eps, double wd, int t) {
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] = p[i] - lr * wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      double m_hat = m[i] / (1 - std::pow(b1, t));
      double v_hat = v[i] / (1 - std::pow(b2, t));
      p[i] = p[i] - lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

const std::vector<double> p0 = {0.5, -1.25, 2.0, 0.0, -0.75, 1.5};  // (2, 3)
const std::vector<std::vector<double>> grads = {
    {0.1, -0.2, 0.3, 0.05, 0.0, -1.0},
    {-0.3, 0.1, 0.25, -0.05, 0.4, 0.5},
    {0.2, 0.2, -0.6, 0.15, -0.1, 0.0},
};

// ---- the plain rungs, as oracles of the vectorised, multi-tensor ones ----
// Lcg inputs (not Philox, not the library) in [lo, hi).
template <class T> Tensor lcg_tensor(int64_t n, uint64_t seed, double lo, double hi) {
  std::vector<T> v(static_cast<size_t>(n));
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (T& x : v) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x = T(lo + (hi - lo) * double(state >> 11) * 0x1p-53);
  }
  return from_vector(v, {n});
}

// tensor/ops_optim.cpp's plain AdamW loop, line for line (the code as it was before the AVX2
// rung and the multi-tensor pass): compiled by the same g++ with the same flags, it fuses and
// rounds exactly as the library's plain rung does, so the comparison is for equality.
template <class T> void plain_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h) {
  const double decay = 1.0 - h.lr * h.weight_decay;
  const double step_size = h.lr / (1.0 - std::pow(h.beta1, double(h.step)));
  const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(h.beta2, double(h.step)));
  T* pp = param.data<T>();
  const T* pg = grad.data<T>();
  T* pm = m.data<T>();
  T* pv = v.data<T>();
  for (int64_t i = 0; i < param.numel(); ++i) {
    double g = pg[i];
    double p = decay * double(pp[i]);
    double m_i = h.beta1 * double(pm[i]) + (1.0 - h.beta1) * g;
    double v_i = h.beta2 * double(pv[i]) + (1.0 - h.beta2) * g * g;
    double denom = std::sqrt(v_i) / bias_correction2_sqrt + h.eps;
    pp[i] = T(p - step_size * m_i / denom);
    pm[i] = T(m_i);
    pv[i] = T(v_i);
  }
}

// The sum of squares of a list as tensor/ops_optim.cpp defines it, written out plainly: each
// tensor in chunks of 4096; a chunk in 256 lanes, lane t taking elements t, t + 256, ... with an
// fma each; the lanes pairwise (t += t + half, half = 128 .. 1); the chunk sums of the whole
// list in order, as 256 lanes of plain adds, then the same pairwise tree.
double pairwise(std::vector<double> lane) {
  for (size_t half = 128; half > 0; half /= 2)
    for (size_t t = 0; t < half; ++t) lane[t] = lane[t] + lane[t + half];
  return lane[0];
}
double plain_sum_of_squares(const std::vector<Tensor>& xs) {
  std::vector<double> chunk_sums;
  for (const Tensor& x : xs) {
    std::vector<double> v = x.to_vector<double>();  // f32 values are exact in double
    for (size_t c = 0; c < v.size(); c += 4096) {
      std::vector<double> lane(256, 0.0);
      for (size_t i = c; i < std::min(v.size(), c + 4096); ++i) lane[(i - c) % 256] = std::fma(v[i], v[i], lane[(i - c) % 256]);
      chunk_sums.push_back(pairwise(lane));
    }
  }
  std::vector<double> lane(256, 0.0);
  for (size_t i = 0; i < chunk_sums.size(); ++i) lane[i % 256] += chunk_sums[i];
  return pairwise(lane);
}

}  // namespace

TEST_SUITE("nn") {

TEST_CASE_TEMPLATE("multi-tensor adamw_update gives the plain loop's bits, for 1 and 2 threads", T, float, double) {
  // Parameters of odd sizes (the AVX2 rung's 4-element tail, one element alone) and one of
  // 70001 > kParallelGrain elements so that two threads split the pass inside a tensor; two
  // weight decays; three steps so the moments are not zero. Tolerance 0: the same operations.
  // Gradients up to 1e3 and down to 1e-6 in size exercise sqrt(v) and eps.
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    ThreadCount tc(threads);
    std::vector<int64_t> sizes = {1, 3, 5, 1001, 70001, 8};
    std::vector<Tensor> p, m, v, pr, mr, vr;
    for (size_t k = 0; k < sizes.size(); ++k) {
      p.push_back(lcg_tensor<T>(sizes[k], 10 + k, -2, 2));
      m.push_back(zeros({sizes[k]}, p[k].dtype()));
      v.push_back(zeros({sizes[k]}, p[k].dtype()));
      pr.push_back(p[k].clone());
      mr.push_back(m[k].clone());
      vr.push_back(v[k].clone());
    }
    for (int64_t t = 1; t <= 3; ++t) {
      std::vector<AdamWSlot> slots;
      for (size_t k = 0; k < sizes.size(); ++k) {
        double scale = k % 2 == 0 ? 1e3 : 1e-6;
        Tensor g = lcg_tensor<T>(sizes[k], 100 * uint64_t(t) + k, -scale, scale);
        AdamWHyper h{1e-2, 0.9, 0.999, 1e-8, k % 3 == 0 ? 0.0 : 0.1, t};
        slots.push_back({p[k], g, m[k], v[k], h});
        plain_adamw<T>(pr[k], g, mr[k], vr[k], h);
      }
      adamw_update(slots);
    }
    for (size_t k = 0; k < sizes.size(); ++k) {
      CAPTURE(k);
      CHECK(p[k].to_vector<T>() == pr[k].to_vector<T>());
      CHECK(m[k].to_vector<T>() == mr[k].to_vector<T>());
      CHECK(v[k].to_vector<T>() == vr[k].to_vector<T>());
    }
    CHECK(p[4].to_vector<T>() != lcg_tensor<T>(70001, 14, -2, 2).template to_vector<T>());  // it moved
  }
}

TEST_CASE("multi-tensor sum_of_squares and scale_inplace: the plain tree's bits, for 1 and 2 threads") {
  // Sizes around the 4096-element chunk (full, one short, one over), f32 and f64 mixed in one
  // list, more than 256 chunks in all (so the last tree's lanes add more than one chunk sum), and
  // a total above kParallelGrain. Tolerance 0: the same operations in the same order.
  std::vector<Tensor> xs = {lcg_tensor<float>(4096, 1, -3, 3),      lcg_tensor<float>(1, 2, -3, 3),
                            lcg_tensor<double>(4097, 3, -3, 3),     lcg_tensor<float>(4095, 4, -3, 3),
                            lcg_tensor<float>(16 * 4096, 5, -3, 3), lcg_tensor<float>(100003, 6, -3, 3),
                            lcg_tensor<double>(3, 7, -3, 3),        lcg_tensor<float>(256 * 4096, 8, -3, 3)};
  double want = plain_sum_of_squares(xs);
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    ThreadCount tc(threads);
    CHECK(sum_of_squares(xs) == want);
    // one tensor at a time: each its own tree, the same terms grouped otherwise; relative
    // difference at most ~(number of additions) · 2^-53 ≈ 1e6 · 1e-16 = 1e-10
    double one_by_one = 0;
    for (const Tensor& x : xs) {
      CHECK(sum_of_squares(x) == plain_sum_of_squares({x}));
      one_by_one += sum_of_squares(x);
    }
    CHECK(std::abs(one_by_one - want) <= 1e-10 * want);
  }
  CHECK(want > 3e6);  // ~1.2e6 elements of mean square 3: not all zeros

  for (int threads : {1, 2}) {
    CAPTURE(threads);
    ThreadCount tc(threads);
    std::vector<Tensor> ys;
    for (const Tensor& x : xs) ys.push_back(x.clone());
    scale_inplace(ys, 0.37);
    int64_t wrong = 0;
    for (size_t k = 0; k < xs.size(); ++k) {
      std::vector<double> x = xs[k].to_vector<double>(), y = ys[k].to_vector<double>();
      for (size_t i = 0; i < x.size(); ++i)
        wrong += xs[k].dtype() == DType::f64 ? y[i] != 0.37 * x[i] : y[i] != double(float(0.37 * x[i]));
    }
    CHECK(wrong == 0);  // every element, once: s·x in double, rounded once
  }
}


// Tolerance 1e-12 (f64): kernel and oracle evaluate the same formula in double; they differ
// only in where the bias corrections are applied (lr/(1-β1^t)·m against lr·(m/(1-β1^t)),
// √v/√(1-β2^t) against √(v/(1-β2^t))), a few ulp (~1e-16) on values of size <= 2 per step.
// Any formula error is far larger: lr = 0.01 moves each p by ~1e-2 per step, dropping a bias
// correction changes a step by a factor of up to 10 (β1) or 30 (β2), and the decay term is
// lr·wd·|p| ~ 1e-3.
TEST_CASE("adamw_update matches the PyTorch AdamW formula over 3 steps (f64)") {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  Tensor p = from_vector(p0, {2, 3});
  Tensor m = zeros({2, 3}, DType::f64), v = zeros({2, 3}, DType::f64);
  NaiveAdamW ref{p0, std::vector<double>(6, 0.0), std::vector<double>(6, 0.0)};
  for (int t = 1; t <= 3; ++t) {
    Tensor g = from_vector(grads[size_t(t - 1)], {2, 3});
    adamw_update(p, g, m, v, {lr, b1, b2, eps, wd, t});
    ref.step(grads[size_t(t - 1)], lr, b1, b2, eps, wd, t);
    CHECK(max_abs_diff(p.to_vector<double>(), ref.p) < 1e-12);
    CHECK(max_abs_diff(m.to_vector<double>(), ref.m) < 1e-12);
    CHECK(max_abs_diff(v.to_vector<double>(), ref.v) < 1e-12);
  }
  // The update really moved things: not a no-op that the oracle happens to match.
  CHECK(max_abs_diff(p.to_vector<double>(), p0) > 1e-2);
}

// f32: p, m, v are rounded to float once per element per step (relative error 6e-8 each);
// with |p| <= 2 and 3 steps that is < 1e-6 absolute. 1e-5 leaves room and is still 100x
// smaller than one lr = 1e-3 step.
TEST_CASE("adamw_update on f32 agrees with the f64 oracle to float rounding") {
  const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
  Tensor p = to_dtype(from_vector(p0, {2, 3}), DType::f32);
  Tensor m = zeros({2, 3}), v = zeros({2, 3});
  NaiveAdamW ref{p0, std::vector<double>(6, 0.0), std::vector<double>(6, 0.0)};
  for (int t = 1; t <= 3; ++t) {
    adamw_update(p, to_dtype(from_vector(grads[size_t(t - 1)], {2, 3}), DType::f32), m, v,
                 {lr, b1, b2, eps, wd, t});
    ref.step(grads[size_t(t - 1)], lr, b1, b2, eps, wd, t);
  }
  CHECK(max_abs_diff(to_dtype(p, DType::f64).to_vector<double>(), ref.p) < 1e-5);
}

TEST_CASE("AdamW steps the parameters in place and counts t from 1") {
  Variable w(from_vector(p0, {2, 3}), true);
  Variable b(from_vector({0.25, -0.5, 1.0}, {3}, DType::f64), true);
  Variable frozen(from_vector({7.0, 8.0}, {2}, DType::f64), true);  // never gets a gradient
  Parameters params = {{"w", &w}, {"b", &b}, {"frozen", &frozen}};
  AdamWConfig config;
  config.weight_decay = 0.1;
  AdamW opt(params, config);
  NaiveAdamW ref_w{p0, std::vector<double>(6, 0.0), std::vector<double>(6, 0.0)};
  NaiveAdamW ref_b{{0.25, -0.5, 1.0}, {0, 0, 0}, {0, 0, 0}};
  Tensor w_storage = w.value();
  for (int t = 1; t <= 3; ++t) {
    std::vector<double> gb = {grads[size_t(t - 1)][0], grads[size_t(t - 1)][1], 0.5};
    opt.zero_grad();
    w.accumulate_grad(from_vector(grads[size_t(t - 1)], {2, 3}));
    b.accumulate_grad(from_vector(gb, {3}));
    double lr = 0.01 * t;  // a different lr each step, as a schedule would give
    opt.step(lr);
    ref_w.step(grads[size_t(t - 1)], lr, 0.9, 0.999, 1e-8, 0.1, t);
    ref_b.step(gb, lr, 0.9, 0.999, 1e-8, 0.0, t);  // rank 1: no weight decay
  }
  CHECK(opt.steps() == 3);
  CHECK(w.value().shares_storage_with(w_storage));  // updated in place, not replaced
  CHECK(max_abs_diff(w.value().to_vector<double>(), ref_w.p) < 1e-12);  // tolerance as above
  CHECK(max_abs_diff(b.value().to_vector<double>(), ref_b.p) < 1e-12);
  CHECK(frozen.value().to_vector<double>() == std::vector<double>{7.0, 8.0});
  // zero_grad forgets every gradient.
  opt.zero_grad();
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("AdamW decays rank-2 parameters only (the paper's 'non bias or gain weights')") {
  // With a zero gradient, m = v = 0 and the Adam step is lr·0/(0 + eps) = 0, so only the
  // decoupled weight decay can move a parameter: w ← w·(1 − lr·wd) for the matrix and the
  // embedding, nothing for the bias and the LayerNorm gain.
  Variable matrix(from_vector({1.0, -2.0, 3.0, 4.0}, {2, 2}, DType::f64), true);
  Variable embedding(from_vector({0.5, 0.25, -1.0}, {3, 1}, DType::f64), true);
  Variable bias(from_vector({1.0, -2.0}, {2}, DType::f64), true);
  Variable gain(from_vector({1.0, 1.0}, {2}, DType::f64), true);
  Parameters params = {{"matrix", &matrix}, {"embedding", &embedding}, {"bias", &bias}, {"gain", &gain}};
  for (const NamedParameter& p : params) p.variable->accumulate_grad(zeros_like(p.variable->value()));
  AdamW opt(params, {.weight_decay = 0.5});
  opt.step(0.1);
  const double shrink = 1 - 0.1 * 0.5;
  // One multiplication in double each: the tolerance 1e-15 is a couple of ulp of values <= 4.
  CHECK(max_abs_diff(matrix.value().to_vector<double>(), {shrink, -2 * shrink, 3 * shrink, 4 * shrink}) < 1e-15);
  CHECK(max_abs_diff(embedding.value().to_vector<double>(), {0.5 * shrink, 0.25 * shrink, -shrink}) < 1e-15);
  CHECK(bias.value().to_vector<double>() == std::vector<double>{1.0, -2.0});  // exactly unchanged
  CHECK(gain.value().to_vector<double>() == std::vector<double>{1.0, 1.0});
}

TEST_CASE("AdamW state round-trips: a restored optimizer continues exactly like the original") {
  auto make = [] { return Variable(from_vector(p0, {2, 3}), true); };
  Variable wa = make(), wb = make();
  Variable ba(from_vector({1.0, 2.0}, {2}, DType::f64), true), bb(from_vector({1.0, 2.0}, {2}, DType::f64), true);
  AdamW a({{"w", &wa}, {"b", &ba}}), b({{"w", &wb}, {"b", &bb}});
  auto give_grads = [](Variable& w, Variable& bias, int t) {
    w.zero_grad();
    bias.zero_grad();
    w.accumulate_grad(from_vector(grads[size_t(t)], {2, 3}));
    bias.accumulate_grad(from_vector({0.1 * t, -0.2}, {2}, DType::f64));
  };
  for (int t = 0; t < 2; ++t) {  // a (and the parameters of b, copied below) take 2 steps
    give_grads(wa, ba, t);
    a.step(1e-2);
  }
  OptimizerState s = a.state();
  REQUIRE(s.size() == 4);
  CHECK(s[0].first == "m.w");
  CHECK(s[1].first == "v.w");
  CHECK(s[2].first == "m.b");
  CHECK(s[3].first == "v.b");
  Tensor wb_value = wb.value(), bb_value = bb.value();
  std::copy_n(wa.value().data<double>(), 6, wb_value.data<double>());
  std::copy_n(ba.value().data<double>(), 2, bb_value.data<double>());
  b.load_state(s, a.steps());
  CHECK(b.steps() == 2);
  CHECK_FALSE(b.state()[0].second.shares_storage_with(s[0].second));  // copied, not aliased
  give_grads(wa, ba, 2);
  give_grads(wb, bb, 2);
  a.step(1e-2);
  b.step(1e-2);
  // Same state, same arithmetic: bit-identical, which fails if a moment or t were not restored.
  CHECK(wb.value().to_vector<double>() == wa.value().to_vector<double>());
  CHECK(bb.value().to_vector<double>() == ba.value().to_vector<double>());
}

TEST_CASE("AdamW::load_state rejects wrong names, shapes and missing entries, and changes nothing then") {
  Variable w(zeros({2, 3}, DType::f64), true), b(zeros({3}, DType::f64), true);
  AdamW opt({{"w", &w}, {"b", &b}});
  OptimizerState good = opt.state();
  auto with = [&](size_t i, std::string name, Tensor t) {
    OptimizerState s = good;
    s[i] = {std::move(name), std::move(t)};
    return s;
  };
  CHECK_THROWS_WITH_AS(opt.load_state(with(0, "m.weight", zeros({2, 3}, DType::f64)), 1),
                       doctest::Contains("AdamW::load_state: unknown entry 'm.weight'"), Error);
  CHECK_THROWS_WITH_AS(opt.load_state(with(0, "m.w", zeros({3, 2}, DType::f64)), 1),
                       doctest::Contains("entry 'm.w' is f64 (3, 2) but parameter 'w' is f64 (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(opt.load_state(with(0, "m.w", zeros({2, 3}, DType::f32)), 1),
                       doctest::Contains("entry 'm.w' is f32 (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(opt.load_state(with(0, "v.w", zeros({2, 3}, DType::f64)), 1),
                       doctest::Contains("entry 'v.w' appears twice"), Error);
  OptimizerState missing(good.begin(), good.end() - 1);
  CHECK_THROWS_WITH_AS(opt.load_state(missing, 1), doctest::Contains("no entry 'v.b'"), Error);
  CHECK_THROWS_WITH_AS(opt.load_state(good, -1), doctest::Contains("step count must be >= 0, got -1"), Error);
  // A failed load leaves the optimizer untouched: the state tensors are the same objects.
  CHECK(opt.steps() == 0);
  CHECK(opt.state()[0].second.shares_storage_with(good[0].second));
}

TEST_CASE("optimizers refuse duplicate names and a weight listed twice") {
  Variable w(zeros({2, 2}), true);
  Variable alias(w.value(), true);  // a second Variable over the same storage, like a tied head
  CHECK_THROWS_WITH_AS(AdamW({{"w", &w}, {"w", &alias}}), doctest::Contains("AdamW: parameter name 'w' appears twice"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({{"w", &w}, {"head", &alias}}),
                       doctest::Contains("SGD: parameters 'w' and 'head' share storage"), Error);
  CHECK_THROWS_WITH_AS(AdamW({{"w", nullptr}}), doctest::Contains("parameter 0 ('w') has no Variable"), Error);
}

TEST_CASE("adamw_update and sgd_update check their arguments") {
  Tensor p = zeros({2, 3}), g = zeros({3, 2}), m = zeros({2, 3}), v = zeros({2, 3});
  AdamWHyper h{1e-3, 0.9, 0.999, 1e-8, 0.0, 1};
  CHECK_THROWS_WITH_AS(adamw_update(p, g, m, v, h),
                       doctest::Contains("adamw_update: param has shape (2, 3) but grad has shape (3, 2)"), Error);
  Tensor g64 = zeros({2, 3}, DType::f64);
  CHECK_THROWS_WITH_AS(adamw_update(p, g64, m, v, h), doctest::Contains("adamw_update: grad is f64 (2, 3) but param is f32"),
                       Error);
  Tensor g_ok = zeros({2, 3});
  h.step = 0;
  CHECK_THROWS_WITH_AS(adamw_update(p, g_ok, m, v, h), doctest::Contains("step is 1-based"), Error);
  h.step = 1;
  h.beta2 = 1.0;
  CHECK_THROWS_WITH_AS(adamw_update(p, g_ok, m, v, h), doctest::Contains("betas must lie in [0, 1)"), Error);
  Tensor buf = zeros({3});
  CHECK_THROWS_WITH_AS(sgd_update(p, g_ok, buf, 0.1, 0.9, 0.0),
                       doctest::Contains("sgd_update: param has shape (2, 3) but momentum_buffer has shape (3,)"), Error);
}

// Hand computation with p = [1, -2], g = [0.5, 1], lr = 0.1. The numbers are exact in
// binary only up to rounding of 0.1, 0.9 etc.; a few operations on values <= 2.3 stay within
// 1e-15, and 1e-14 is still far below any mistake (the smallest term, lr·wd·p, is 0.01).
TEST_CASE("SGD without momentum: p ← p − lr·(g + wd·p)") {
  Variable p(from_vector({1.0, -2.0}, {2}, DType::f64), true);
  p.accumulate_grad(from_vector({0.5, 1.0}, {2}, DType::f64));
  SGD opt({{"p", &p}}, {.momentum = 0.0, .weight_decay = 0.1});
  opt.step(0.1);
  // g + wd·p = [0.5 + 0.1, 1 − 0.2] = [0.6, 0.8]; p − 0.1·that = [0.94, −2.08]
  CHECK(max_abs_diff(p.value().to_vector<double>(), {0.94, -2.08}) < 1e-14);
  CHECK(opt.state().empty());  // no momentum, no buffer
  CHECK(p.grad().to_vector<double>() == std::vector<double>{0.5, 1.0});  // the gradient is not changed
}

TEST_CASE("SGD with momentum: the buffer starts as g, then buf ← μ·buf + g") {
  Variable p(from_vector({1.0, -2.0}, {2}, DType::f64), true);
  SGD opt({{"p", &p}}, {.momentum = 0.9, .weight_decay = 0.0});
  for (int t = 0; t < 2; ++t) {
    opt.zero_grad();
    p.accumulate_grad(from_vector({0.5, 1.0}, {2}, DType::f64));
    opt.step(0.1);
    if (t == 0) CHECK(max_abs_diff(p.value().to_vector<double>(), {0.95, -2.1}) < 1e-14);  // buf = [0.5, 1]
  }
  // step 2: buf = 0.9·[0.5, 1] + [0.5, 1] = [0.95, 1.9]; p = [0.95 − 0.095, −2.1 − 0.19]
  CHECK(max_abs_diff(p.value().to_vector<double>(), {0.855, -2.29}) < 1e-14);
  OptimizerState s = opt.state();
  REQUIRE(s.size() == 1);
  CHECK(s[0].first == "momentum_buffer.p");
  CHECK(max_abs_diff(s[0].second.to_vector<double>(), {0.95, 1.9}) < 1e-14);
  CHECK_THROWS_WITH_AS(opt.load_state({{"momentum.p", zeros({2}, DType::f64)}}, 2),
                       doctest::Contains("SGD::load_state: unknown entry 'momentum.p'"), Error);
}

TEST_CASE("sgd_update allocates the buffer at the first step and leaves it alone without momentum") {
  Tensor p = from_vector({1.0, 2.0}, {2}, DType::f64), g = from_vector({0.5, 0.5}, {2}, DType::f64);
  Tensor buf;
  sgd_update(p, g, buf, 0.1, 0.0, 0.0);
  CHECK_FALSE(buf.defined());
  sgd_update(p, g, buf, 0.1, 0.5, 0.0);
  REQUIRE(buf.defined());
  CHECK(buf.to_vector<double>() == std::vector<double>{0.5, 0.5});  // buf = g (uninitialised memory would show)
  sgd_update(p, g, buf, 0.1, 0.5, 0.0);
  CHECK(buf.to_vector<double>() == std::vector<double>{0.75, 0.75});
}

TEST_CASE("clip_grad_norm: global norm, one common factor, nothing under the max") {
  // Gradients [3, 4] and [[0, 12]]: global norm √(9 + 16 + 144) = 13, exact in double.
  Variable a(zeros({2}, DType::f64), true), b(zeros({1, 2}, DType::f64), true), none(zeros({2}, DType::f64), true);
  Parameters params = {{"a", &a}, {"b", &b}, {"none", &none}};  // `none` has no gradient
  auto set_grads = [&] {
    a.zero_grad();
    b.zero_grad();
    a.accumulate_grad(from_vector({3.0, 4.0}, {2}, DType::f64));
    b.accumulate_grad(from_vector({0.0, 12.0}, {1, 2}, DType::f64));
  };

  set_grads();
  CHECK(clip_grad_norm(params, 20.0) == 13.0);
  CHECK(a.grad().to_vector<double>() == std::vector<double>{3.0, 4.0});  // under the max: untouched
  CHECK(b.grad().to_vector<double>() == std::vector<double>{0.0, 12.0});

  set_grads();
  CHECK(clip_grad_norm(params, 6.5) == 13.0);  // the norm before clipping
  const double coef = 6.5 / (13.0 + 1e-6);     // PyTorch's factor
  // One multiplication each: 1e-15 covers the rounding of values <= 6.
  CHECK(max_abs_diff(a.grad().to_vector<double>(), {3 * coef, 4 * coef}) < 1e-15);
  CHECK(max_abs_diff(b.grad().to_vector<double>(), {0.0, 12 * coef}) < 1e-15);
  // The clipped norm is just under max_norm (by 6.5·1e-6/13 = 5e-7, the effect of the guard).
  double after = std::sqrt(sum_of_squares(a.grad()) + sum_of_squares(b.grad()));
  CHECK(after < 6.5);
  CHECK(after > 6.5 - 1e-6);
  CHECK_FALSE(none.grad().defined());

  // A non-finite norm is returned and nothing is scaled.
  a.zero_grad();
  a.accumulate_grad(from_vector({std::numeric_limits<double>::infinity(), 4.0}, {2}, DType::f64));
  CHECK(std::isinf(clip_grad_norm(params, 1.0)));
  CHECK(a.grad().to_vector<double>()[1] == 4.0);
  CHECK(b.grad().to_vector<double>()[1] == 12 * coef);
  CHECK_THROWS_WITH_AS(clip_grad_norm(params, 0.0), doctest::Contains("clip_grad_norm: max_norm must be"), Error);
}

TEST_CASE("sum_of_squares and scale_inplace: value, and the same bits for 1 and 2 threads") {
  Generator gen{42};
  Tensor x = randn({100003}, gen);  // f32, 25 chunks of 4096, above the parallel threshold
  double naive = 0;
  for (float f : x.to_vector<float>()) naive += double(f) * double(f);
  double one, two;
  {
    ThreadCount threads(1);
    one = sum_of_squares(x);
  }
  {
    ThreadCount threads(2);
    two = sum_of_squares(x);
  }
  CHECK(one == two);  // bit-identical, not approximately equal
  // Same terms in a different order: relative difference ~1e5 · 1e-16 = 1e-11 at worst.
  CHECK(std::abs(one - naive) / naive < 1e-10);
  CHECK(naive > 9e4);  // ~N(0, 1)² summed 1e5 times: the test data is not all zeros

  Tensor y = from_vector({1.0, -2.0, 0.5}, {3}, DType::f64);
  scale_inplace(y, -2.0);
  CHECK(y.to_vector<double>() == std::vector<double>{-2.0, 4.0, -1.0});
  CHECK(sum_of_squares(y) == 21.0);
}

// Schedules: max_lr = 2, W = 4 warmup steps, N = 14 total, so the decay runs over 10 steps.
// Expected values are written out by hand; 1e-15 covers rounding in cos and one product.
TEST_CASE("warmup_cosine: linear warmup, max/2 half way through the decay, 0 at the end") {
  LRSchedule s{ScheduleKind::warmup_cosine, 2.0, 4, 14};
  CHECK(s.at(0) == doctest::Approx(0.5).epsilon(1e-15));  // max·1/4
  CHECK(s.at(1) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(s.at(3) == doctest::Approx(2.0).epsilon(1e-15));  // last warmup step reaches max
  CHECK(s.at(4) == doctest::Approx(2.0).epsilon(1e-15));  // progress 0: cos 0 = 1
  CHECK(s.at(9) == doctest::Approx(1.0).epsilon(1e-15));  // progress 1/2: cos(π/2) = 0
  CHECK(std::abs(s.at(13) - (1.0 + std::cos(0.9 * std::numbers::pi))) < 1e-15);
  CHECK(s.at(14) == 0.0);
  CHECK(s.at(100) == 0.0);
  for (int64_t t = 4; t < 14; ++t) CHECK(s.at(t + 1) < s.at(t));  // strictly decreasing
}

TEST_CASE("warmup_linear and constant") {
  LRSchedule lin{ScheduleKind::warmup_linear, 2.0, 4, 14};
  CHECK(lin.at(0) == doctest::Approx(0.5).epsilon(1e-15));
  CHECK(lin.at(4) == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(lin.at(9) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(lin.at(13) == doctest::Approx(0.2).epsilon(1e-14));  // 2·(1 − 9/10)
  CHECK(lin.at(14) == 0.0);
  LRSchedule no_warmup{ScheduleKind::warmup_linear, 2.0, 0, 10};
  CHECK(no_warmup.at(0) == 2.0);
  CHECK(no_warmup.at(5) == doctest::Approx(1.0).epsilon(1e-15));
  LRSchedule constant{ScheduleKind::constant, 2.5e-4, 4, 14};
  CHECK(constant.at(0) == 2.5e-4);
  CHECK(constant.at(1000) == 2.5e-4);
}

TEST_CASE("schedules reject bad fields and steps") {
  CHECK_THROWS_WITH_AS((LRSchedule{ScheduleKind::warmup_cosine, 1.0, 10, 5}.at(0)),
                       doctest::Contains("total_steps (5) is smaller than warmup_steps (10)"), Error);
  CHECK_THROWS_WITH_AS((LRSchedule{ScheduleKind::warmup_cosine, 1.0, -1, 5}.at(0)),
                       doctest::Contains("warmup_steps must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS((LRSchedule{ScheduleKind::constant, -1.0, 0, 0}.at(0)),
                       doctest::Contains("max_lr must be a finite number >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS((LRSchedule{ScheduleKind::warmup_linear, 1.0, 0, 5}.at(-1)),
                       doctest::Contains("steps count from 0, got -1"), Error);
}

}  // TEST_SUITE
