// tests/tensor/test_ops.cpp — every op of tensor/ops.h against an independent oracle, then every
// op's error messages.
//
// Oracle: naive loops written here in double precision, straight from the definitions
// (right-aligned broadcasting by multi-index, a triple-loop matmul, per-row softmax, layernorm
// and its full Jacobian, the GELU formulas, a Taylor series for erf, binomial statistics for
// the samplers). Inputs come from a small LCG, not from Philox, so no test input shares code
// with the library. Each tolerance carries a comment saying why it is what it is; f32 and f64
// are both run where the kernel is templated on the scalar type.
// Read next: tests/tensor/test_philox.cpp (the random stream itself).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/ops.h"

using namespace kiso;

namespace {

// ---- inputs ----

// Knuth's MMIX linear congruential generator, uniform doubles in [lo, hi).
struct Lcg {
  uint64_t state;
  double next(double lo, double hi) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * double(state >> 11) * 0x1p-53;
  }
};

template <class T> Tensor random_tensor(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
  Lcg g{seed * 0x9E3779B97F4A7C15ull + 1};
  std::vector<T> v(size_t(numel_of(shape)));
  for (T& x : v) x = T(g.next(lo, hi));
  return from_vector(v, shape);
}

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// ---- tolerances ----

// A result a few roundings from exact: f32 rounds at 2^-24 ≈ 6e-8, so 1e-6 leaves room for
// ~16 roundings; f64 rounds at 1.1e-16, so 1e-12 is generous and still catches any real slip.
template <class T> constexpr double kTol = std::is_same_v<T, float> ? 1e-6 : 1e-12;
// The unit roundoff of T, for bounds that grow with the length of a sum (γ_n ≈ n·u).
template <class T> constexpr double kUnit = std::numeric_limits<T>::epsilon() / 2;

// `got` has `shape` and element i is within rtol·|want[i]| + atol(i) of the oracle. On failure
// it reports the first bad element; NaN never passes.
void check_close(const Tensor& got, const Shape& shape, const std::vector<double>& want, double rtol,
                 const std::function<double(size_t)>& atol) {
  INFO("got shape ", shape_str(got.shape()), ", expected ", shape_str(shape));
  REQUIRE(got.shape() == shape);
  std::vector<double> g = values(got);
  REQUIRE(g.size() == want.size());
  size_t bad = g.size();
  for (size_t i = 0; i < g.size() && bad == g.size(); ++i)
    if (!(std::abs(g[i] - want[i]) <= rtol * std::abs(want[i]) + atol(i))) bad = i;
  INFO("first element out of tolerance: ", bad, bad < g.size() ? fmt::format(": got {:.17g}, want {:.17g}", g[bad], want[bad]) : "");
  CHECK(bad == g.size());
}

void check_close(const Tensor& got, const Shape& shape, const std::vector<double>& want, double rtol, double atol = 0) {
  check_close(got, shape, want, rtol, [atol](size_t) { return atol; });
}

// ---- naive index arithmetic ----

// The multi-index of flat (row-major) position `flat` in `shape`.
std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    idx[k] = flat % shape[k];
    flat /= shape[k];
  }
  return idx;
}

// NumPy broadcasting from its definition: the flat position in an input of shape `in` that
// output position `flat` (of shape `out`) reads; `in` is aligned at the right and its size-1
// axes are pinned to index 0.
int64_t broadcast_source(int64_t flat, const Shape& out, const Shape& in) {
  std::vector<int64_t> idx = unravel(flat, out);
  size_t lead = out.size() - in.size();
  int64_t src = 0;
  for (size_t k = 0; k < in.size(); ++k) src = src * in[k] + (in[k] == 1 ? 0 : idx[lead + k]);
  return src;
}

// Sets the OpenMP thread count for one scope and restores it, so no later test sees it.
struct ThreadCount {
  int saved = omp_get_max_threads();
  explicit ThreadCount(int n) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(saved); }
};

// erf(z) = 2/√π Σ_n (-1)^n z^(2n+1) / (n! (2n+1)), summed until the terms vanish. For |z| <= 2
// the largest term is ~3, so cancellation costs at most one digit of double.
double erf_series(double z) {
  double term = z, sum = 0;  // term = (-1)^n z^(2n+1) / n!
  for (int n = 0; n < 100 && std::abs(term) > 1e-30; ++n) {
    sum += term / (2 * n + 1);
    term *= -z * z / (n + 1);
  }
  return 2 / std::sqrt(std::numbers::pi) * sum;
}

}  // namespace

TEST_SUITE("tensor") {

// =============================================================================================
// elementwise
// =============================================================================================

TEST_CASE_TEMPLATE("add/sub/mul/div: (4, 1, 3) with (2, 1) broadcasts to (4, 2, 3)", T, float, double) {
  Tensor a = random_tensor<T>({4, 1, 3}, 1), b = random_tensor<T>({2, 1}, 2, 0.5, 2.0);
  std::vector<double> va = values(a), vb = values(b);
  // by hand: out[i][j][k] = a[i][0][k] op b[j][0]
  std::vector<double> s, d, p, q;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) {
        double x = va[size_t(i * 3 + k)], y = vb[size_t(j)];
        s.push_back(x + y), d.push_back(x - y), p.push_back(x * y), q.push_back(x / y);
      }
  // one correctly rounded operation: relative error <= 2^-24 (f32), 2^-53 (f64)
  check_close(add(a, b), {4, 2, 3}, s, kTol<T>);
  check_close(sub(a, b), {4, 2, 3}, d, kTol<T>);
  check_close(mul(a, b), {4, 2, 3}, p, kTol<T>);
  check_close(div(a, b), {4, 2, 3}, q, kTol<T>);
  CHECK(add(a, b).dtype() == dtype_of<T>());
  // the other order reads the same elements
  std::vector<double> d2;
  for (double v : d) d2.push_back(-v);
  check_close(sub(b, a), {4, 2, 3}, d2, kTol<T>);
}

TEST_CASE_TEMPLATE("add/sub/mul/div broadcast every edge: 0-d, size-1 axes, odd sizes, threaded", T, float, double) {
  struct Case {
    Shape a, b, out;
  };
  std::vector<Case> cases = {
      {{}, {3, 4}, {3, 4}},             // 0-d scalar with a matrix
      {{3, 4}, {}, {3, 4}},             // and the other way round
      {{}, {}, {}},                     // two scalars
      {{7, 1}, {1, 13}, {7, 13}},       // an outer product of odd sizes
      {{7, 13}, {7, 13}, {7, 13}},      // identical shapes (the flat loop)
      {{13}, {7, 13}, {7, 13}},         // a missing leading axis
      {{2, 3, 1}, {3, 5}, {2, 3, 5}},   // missing axis and size-1 axis together
      {{1}, {5}, {5}},
      {{1, 1}, {1}, {1, 1}},
      {{5, 1, 7}, {5, 3, 1}, {5, 3, 7}},
      {{0, 3}, {1, 3}, {0, 3}},         // an empty result
      {{300, 64}, {64}, {300, 64}},     // 19200 > kParallelGrain elements: the threaded row loop
      {{150, 128}, {150, 128}, {150, 128}},  // threaded flat loop
  };
  struct Op {
    const char* name;
    Tensor (*op)(const Tensor&, const Tensor&);
    double (*ref)(double, double);
  };
  std::vector<Op> ops = {
      {"add", [](const Tensor& x, const Tensor& y) { return add(x, y); }, [](double x, double y) { return x + y; }},
      {"sub", [](const Tensor& x, const Tensor& y) { return sub(x, y); }, [](double x, double y) { return x - y; }},
      {"mul", [](const Tensor& x, const Tensor& y) { return mul(x, y); }, [](double x, double y) { return x * y; }},
      {"div", [](const Tensor& x, const Tensor& y) { return div(x, y); }, [](double x, double y) { return x / y; }},
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    Tensor a = random_tensor<T>(c.a, ++seed), b = random_tensor<T>(c.b, ++seed, 0.5, 2.0);  // b != 0 for div
    std::vector<double> va = values(a), vb = values(b);
    for (const Op& op : ops) {
      INFO(op.name, " ", shape_str(c.a), " with ", shape_str(c.b));
      std::vector<double> want(size_t(numel_of(c.out)));
      for (int64_t i = 0; i < numel_of(c.out); ++i)
        want[size_t(i)] = op.ref(va[size_t(broadcast_source(i, c.out, c.a))], vb[size_t(broadcast_source(i, c.out, c.b))]);
      check_close(op.op(a, b), c.out, want, kTol<T>);  // one rounding, as above
    }
  }
}

TEST_CASE_TEMPLATE("add and mul with a scalar", T, float, double) {
  Tensor a = random_tensor<T>({7, 13}, 3);
  std::vector<double> va = values(a), plus, times;
  for (double x : va) plus.push_back(x + 2.5), times.push_back(x * -3.0);
  check_close(add(a, 2.5), {7, 13}, plus, kTol<T>);  // one rounding
  check_close(mul(a, -3.0), {7, 13}, times, kTol<T>);
  check_close(mul(scalar(4.0, dtype_of<T>()), 0.5), {}, {2.0}, 0);  // exact: shape () is kept
}

TEST_CASE_TEMPLATE("unary ops: neg, exp, log, tanh, sqrt, rsqrt, pow, erf", T, float, double) {
  struct Unary {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    std::function<double(double)> ref;  // written from a definition, not the same libm call where avoidable
    double lo, hi;
  };
  std::vector<Unary> ops = {
      {"neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, -3, 3},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, -3, 3},
      {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, 0.1, 4},
      {"tanh", [](const Tensor& x) { return tanh(x); },
       [](double x) { return std::expm1(2 * x) / (std::expm1(2 * x) + 2); }, -3, 3},  // (e^2x - 1)/(e^2x + 1)
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0, 4},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.1, 4},
      {"pow 2.5", [](const Tensor& x) { return pow(x, 2.5); }, [](double x) { return std::exp(2.5 * std::log(x)); },
       0.1, 4},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, [](double x) { return x * x * x; }, -2, 2},
      {"pow -0.5", [](const Tensor& x) { return pow(x, -0.5); }, [](double x) { return 1 / std::sqrt(x); }, 0.1, 4},
      {"erf", [](const Tensor& x) { return erf(x); }, erf_series, -2, 2},
  };
  uint64_t seed = 40;
  for (const Unary& u : ops) {
    INFO(u.name);
    Tensor x = random_tensor<T>({7, 13}, ++seed, u.lo, u.hi);
    std::vector<double> want;
    for (double v : values(x)) want.push_back(u.ref(v));
    // libm is within a few ulps of the true value; the f64 atol covers the oracle's own
    // ~1e-16 absolute error where the result is near 0 (erf, tanh near x = 0)
    check_close(u.op(x), {7, 13}, want, kTol<T>, std::is_same_v<T, float> ? 0.0 : 1e-15);
    CHECK(u.op(x).dtype() == dtype_of<T>());
  }
  // known values (Abramowitz & Stegun 7.1): the series oracle itself is right
  check_close(erf(from_vector({0, 0.5, 1, -1}, {4}, dtype_of<T>())), {4},
              {0, 0.5204998778130465377, 0.8427007929497148693, -0.8427007929497148693}, kTol<T>);
  // the shape, including 0-d, passes through
  check_close(exp(scalar(1.0, dtype_of<T>())), {}, {std::numbers::e}, kTol<T>);
}

TEST_CASE_TEMPLATE("sum_to undoes broadcasting", T, float, double) {
  Tensor x = random_tensor<T>({4, 2, 3}, 5);
  std::vector<double> vx = values(x);
  double abs_sum = 0;
  for (double v : vx) abs_sum += std::abs(v);
  // the kernel sums in T: |error| <= γ_n Σ|x| with n <= 24 terms; in f64 the oracle's own
  // double sum may err as much again, hence the factor 2
  double atol = 2 * 24 * kUnit<T> * abs_sum * 1.01;

  // by hand for (2, 1): out[j] = Σ_i Σ_k x[i][j][k]
  std::vector<double> want(2, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) want[size_t(j)] += vx[size_t(i * 6 + j * 3 + k)];
  check_close(sum_to(x, {2, 1}), {2, 1}, want, kTol<T>, atol);

  // every other target, through the broadcasting rule: each x element adds into the one element
  // of the target it would have been read from
  for (Shape target : {Shape{1, 3}, Shape{3}, Shape{}, Shape{4, 1, 3}, Shape{1, 1, 1}, Shape{4, 2, 1}, Shape{2, 3},
                       Shape{4, 2, 3}}) {
    INFO("target ", shape_str(target));
    std::vector<double> w(size_t(numel_of(target)), 0.0);
    for (int64_t i = 0; i < x.numel(); ++i) w[size_t(broadcast_source(i, x.shape(), target))] += vx[size_t(i)];
    check_close(sum_to(x, target), target, w, kTol<T>, atol);
  }
  // an empty input sums to zeros
  check_close(sum_to(zeros({0, 3}, dtype_of<T>()), {1, 3}), {1, 3}, {0, 0, 0}, 0);
}

TEST_CASE_TEMPLATE("add_inplace adds into the destination's own storage", T, float, double) {
  Tensor dst = random_tensor<T>({7, 13}, 6), src = random_tensor<T>({7, 13}, 7);
  Tensor alias = dst;  // shares the storage: must see the update
  std::vector<double> want, vd = values(dst), vs = values(src);
  for (size_t i = 0; i < vd.size(); ++i) want.push_back(vd[i] + vs[i]);
  add_inplace(dst, src);
  check_close(alias, {7, 13}, want, kTol<T>);  // one rounding
  CHECK(alias.shares_storage_with(dst));
  check_close(src, {7, 13}, vs, 0);  // the source is untouched
  // threaded path (> kParallelGrain elements), accumulating twice
  Tensor big = zeros({200, 100}, dtype_of<T>()), one = ones({200, 100}, dtype_of<T>());
  add_inplace(big, one);
  add_inplace(big, one);
  check_close(big, {200, 100}, std::vector<double>(20000, 2.0), 0);  // small integers are exact
}

// =============================================================================================
// reductions
// =============================================================================================

TEST_CASE_TEMPLATE("sum, mean, max over everything return 0-d tensors", T, float, double) {
  Tensor x = random_tensor<T>({7, 13}, 8);
  std::vector<double> vx = values(x);
  double s = 0, abs_sum = 0, m = vx[0];
  for (double v : vx) s += v, abs_sum += std::abs(v), m = std::max(m, v);
  // kernel and oracle both add in double (each ≤ n·2^-53·Σ|x| ≈ 1e-14·Σ|x|), then the kernel
  // rounds once to T
  double atol = 91 * kUnit<double> * abs_sum * 2;
  check_close(sum(x), {}, {s}, kTol<T>, atol);
  check_close(mean(x), {}, {s / 91}, kTol<T>, atol / 91);  // one more rounding: the 1/n scale
  check_close(max(x), {}, {m}, 0);                         // a selection: exact
  CHECK(sum(x).dtype() == dtype_of<T>());
  // all negative: the max must not start from 0
  Tensor shifted = add(x, -5.0);
  std::vector<double> vs = values(shifted);
  check_close(max(shifted), {}, {*std::max_element(vs.begin(), vs.end())}, 0);
  // 0-d input, and the empty sum (which is 0, not an error)
  check_close(sum(scalar(3.0, dtype_of<T>())), {}, {3.0}, 0);
  check_close(max(scalar(-3.0, dtype_of<T>())), {}, {-3.0}, 0);
  check_close(sum(zeros({0, 4}, dtype_of<T>())), {}, {0.0}, 0);
}

TEST_CASE("sum over everything does not depend on the thread count") {
  // 100003 elements: 25 fixed chunks, computed by 1 or 2 threads, must add to the same bits.
  // f64 with magnitudes spread over 2^-30 .. 2^10, so that the double sum really rounds and
  // another order of addition would show in the last bits (an f32 result would hide them).
  Lcg g{9};
  std::vector<double> v(100003);
  for (double& e : v) e = (g.next(0, 1) < 0.5 ? -1 : 1) * std::exp2(g.next(-30, 10));
  Tensor x = from_vector(v, {100003});
  double one, two;
  {
    ThreadCount t(1);
    one = sum(x).item();
  }
  {
    ThreadCount t(2);
    two = sum(x).item();
  }
  CHECK(one == two);
  double s = 0, abs_sum = 0;
  for (double e : v) s += e, abs_sum += std::abs(e);
  check_close(sum(x), {}, {s}, 0, 2 * 100003 * kUnit<double> * abs_sum);  // γ_n Σ|x|: another order than the oracle's
}

TEST_CASE_TEMPLATE("sum_last, mean_last, max_last keep the last axis as 1", T, float, double) {
  for (Shape shape : {Shape{7, 13}, Shape{2, 3, 5}, Shape{5}, Shape{4, 1}, Shape{64, 300}}) {
    INFO("shape ", shape_str(shape));
    Tensor x = random_tensor<T>(shape, 11);
    std::vector<double> vx = values(x);
    int64_t cols = shape.back(), rows = x.numel() / cols;
    Shape out = shape;
    out.back() = 1;
    std::vector<double> s(static_cast<size_t>(rows), 0.0), m(s), mn(s);
    double abs_max = 0;
    for (int64_t r = 0; r < rows; ++r) {
      m[size_t(r)] = vx[size_t(r * cols)];
      double a = 0;
      for (int64_t c = 0; c < cols; ++c) {
        double v = vx[size_t(r * cols + c)];
        s[size_t(r)] += v, a += std::abs(v), m[size_t(r)] = std::max(m[size_t(r)], v);
      }
      mn[size_t(r)] = s[size_t(r)] / double(cols);
      abs_max = std::max(abs_max, a);
    }
    // rows are summed in double (error ≤ cols·2^-53·Σ|x|), then rounded once (twice for mean)
    double atol = double(cols) * kUnit<double> * abs_max * 2;
    check_close(sum_last(x), out, s, kTol<T>, atol);
    check_close(mean_last(x), out, mn, kTol<T>, atol);
    check_close(max_last(x), out, m, 0);  // a selection: exact
  }
}

TEST_CASE_TEMPLATE("argmax_last picks the first maximum; one_hot scatters it back", T, float, double) {
  Tensor x = from_vector({1, 3, 3, 2,     // tie: the first 3 wins -> 1
                          -4, -2, -3, -2,  // all negative, tie -> 1
                          5, 0, 0, 0,     // first position
                          0, 0, 0, 7},    // last position
                         {2, 2, 4}, dtype_of<T>());
  Tensor idx = argmax_last(x);
  CHECK(idx.dtype() == DType::i32);
  CHECK(idx.shape() == Shape{2, 2, 1});
  CHECK(idx.to_vector<int32_t>() == std::vector<int32_t>{1, 1, 0, 3});
  Tensor oh = one_hot(idx, 4, dtype_of<T>());
  CHECK(oh.dtype() == dtype_of<T>());
  check_close(oh, {2, 2, 4}, {0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, 0);
  // max_last and one_hot(argmax) agree: the mask picks out exactly the max of each row
  check_close(sum_last(mul(oh, x)), {2, 2, 1}, values(max_last(x)), 0);
  // a wider vocabulary than the index range, and a rank-1 index
  Tensor idx2 = from_vector(std::vector<int32_t>{2}, {1});
  check_close(one_hot(idx2, 5, dtype_of<T>()), {5}, {0, 0, 1, 0, 0}, 0);
}

// =============================================================================================
// matmul
// =============================================================================================

namespace {

// Naive C = A·B in double for `batch` products of logical A (M, K) and B (K, N), all row-major.
// `abs` receives Σ_k |A_ik B_kj|, the scale of the rounding error of each dot product.
std::vector<double> matmul_oracle(const std::vector<double>& A, const std::vector<double>& B, int64_t batch,
                                  int64_t M, int64_t K, int64_t N, std::vector<double>& abs) {
  std::vector<double> C(size_t(batch * M * N), 0.0);
  abs.assign(C.size(), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        for (int64_t k = 0; k < K; ++k) {
          double p = A[size_t(b * M * K + i * K + k)] * B[size_t(b * K * N + k * N + j)];
          C[size_t(b * M * N + i * N + j)] += p;
          abs[size_t(b * M * N + i * N + j)] += std::abs(p);
        }
  return C;
}

// The last two axes of a (batch, R, S) buffer swapped, by hand: the stored form of a transposed operand.
template <class T> Tensor stored_transposed(const std::vector<double>& v, Shape shape) {
  int64_t R = shape[shape.size() - 2], S = shape.back(), batch = numel_of(shape) / std::max<int64_t>(1, R * S);
  std::vector<T> t(v.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s) t[size_t(b * R * S + s * R + r)] = T(v[size_t(b * R * S + r * S + s)]);
  std::swap(shape[shape.size() - 2], shape.back());
  return from_vector(t, shape);
}

// matmul(a, b, trans_a, trans_b) for all four transpose flags against one oracle: logical
// A (..., M, K) and B (..., K, N); a transposed operand is passed stored as (..., K, M) / (..., N, K).
template <class T> void check_matmul(const Shape& batch_axes, int64_t M, int64_t K, int64_t N, uint64_t seed,
                                     std::vector<std::pair<bool, bool>> flags = {{false, false}, {false, true}, {true, false}, {true, true}}) {
  Shape sa = batch_axes, sb = batch_axes, sc = batch_axes;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  sc.insert(sc.end(), {M, N});
  Tensor A = random_tensor<T>(sa, seed), B = random_tensor<T>(sb, seed + 1);
  std::vector<double> va = values(A), vb = values(B), abs;
  std::vector<double> want = matmul_oracle(va, vb, numel_of(batch_axes), M, K, N, abs);
  // the classical dot-product bound |fl(a·b) - a·b| <= γ_K Σ|a_k b_k|, γ_K ≈ K·u, whatever the
  // summation order or blocking; doubled because in f64 the oracle's own dot product may err as
  // much again; kTol covers the final rounding
  double gamma = 2 * double(K) * kUnit<T> * 1.01;
  for (auto [ta, tb] : flags) {
    INFO("a ", shape_str(sa), " b ", shape_str(sb), " trans_a ", ta, " trans_b ", tb);
    Tensor a = ta ? stored_transposed<T>(va, sa) : A;
    Tensor b = tb ? stored_transposed<T>(vb, sb) : B;
    Tensor c = matmul(a, b, ta, tb);
    CHECK(c.dtype() == dtype_of<T>());
    check_close(c, sc, want, kTol<T>, [&](size_t i) { return gamma * abs[i]; });
  }
}

}  // namespace

TEST_CASE_TEMPLATE("matmul: all four transpose combinations against a triple loop", T, float, double) {
  check_matmul<T>({}, 5, 7, 3, 20);
  check_matmul<T>({}, 1, 13, 1, 22);   // a dot product
  check_matmul<T>({}, 13, 1, 7, 24);   // an outer product
  check_matmul<T>({}, 2, 0, 3, 26);    // K = 0: all zeros
  check_matmul<T>({}, 0, 4, 3, 28);    // M = 0: an empty result
}

TEST_CASE_TEMPLATE("matmul: batched (B, M, K)·(B, K, N), odd sizes, several batch axes", T, float, double) {
  check_matmul<T>({3}, 5, 7, 2, 30);      // 3 >= threads: split over the batch
  check_matmul<T>({2, 3}, 4, 5, 6, 32);   // two batch axes
  check_matmul<T>({1}, 64, 80, 64, 34);   // one big product in a batch: split into row bands
}

TEST_CASE_TEMPLATE("matmul: 200x300 · 300x100, split over threads into row bands", T, float, double) {
  check_matmul<T>({}, 200, 300, 100, 40);  // default thread count (2 here)
  {
    ThreadCount t(3);  // 200 rows in 3 bands: 66, 67, 67 — uneven boundaries
    check_matmul<T>({}, 200, 300, 100, 40, {{false, false}, {true, true}});
  }
  {
    ThreadCount t(1);
    check_matmul<T>({}, 200, 300, 100, 40, {{false, true}});
  }
}

// N > M with kiso's f32 kernel: the threads split C's columns (at multiples of 32), each packing
// its share of op(B). 300 columns in 2 and 3 bands give edges at 128 / 96, 192 and ragged last
// bands; 40·700·300 multiply-adds are above matmul's threshold for threads (2^22).
TEST_CASE_TEMPLATE("matmul: 40x700 · 700x300, split over threads into column bands", T, float, double) {
  for (int threads : {2, 3}) {
    ThreadCount t(threads);
    check_matmul<T>({}, 40, 700, 300, 50);
  }
}

// =============================================================================================
// softmax
// =============================================================================================

namespace {

// Per-row softmax from the definition; with causal, key j of query i (of Tq queries against Tk
// keys) is visible when j <= i + Tk - Tq. The max is subtracted (the definition is
// shift-invariant) so that large test inputs stay finite in the oracle too.
std::vector<double> softmax_oracle(const std::vector<double>& x, const Shape& shape, bool causal) {
  int64_t Tk = shape.back(), Tq = causal ? shape[shape.size() - 2] : 1, rows = int64_t(x.size()) / Tk;
  std::vector<double> y(x.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t i = r % Tq;
    auto visible = [&](int64_t j) { return !causal || j <= i + Tk - Tq; };
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < Tk; ++j)
      if (visible(j)) m = std::max(m, x[size_t(r * Tk + j)]);
    for (int64_t j = 0; j < Tk; ++j)
      if (visible(j)) s += std::exp(x[size_t(r * Tk + j)] - m);
    for (int64_t j = 0; j < Tk; ++j)
      if (visible(j)) y[size_t(r * Tk + j)] = std::exp(x[size_t(r * Tk + j)] - m) / s;
  }
  return y;
}

}  // namespace

TEST_CASE_TEMPLATE("softmax_forward: per-row softmax, causal mask with Tq == Tk and Tq < Tk", T, float, double) {
  struct Case {
    Shape shape;
    bool causal;
  };
  for (Case c : {Case{{7, 13}, false}, Case{{13}, false}, Case{{2, 4, 4}, true}, Case{{2, 3, 5}, true},
                 Case{{1, 6}, true}, Case{{3, 1, 6}, true}, Case{{8, 64, 64}, true}, Case{{300, 70}, false}}) {
    INFO("shape ", shape_str(c.shape), " causal ", c.causal);
    Tensor x = random_tensor<T>(c.shape, 50, -2, 2);
    std::vector<double> want = softmax_oracle(values(x), c.shape, c.causal);
    Tensor y = softmax_forward(x, c.causal);
    // exp's argument x - max is rounded (≤ 4u relative on the result for |x - max| ≤ 4), then
    // exp, the reciprocal of the sum and the product add ~1u each: < 1e-6 for f32
    check_close(y, c.shape, want, kTol<T>);
    std::vector<double> vy = values(y);
    int64_t Tk = c.shape.back(), Tq = c.causal ? c.shape[c.shape.size() - 2] : 1;
    int64_t masked_nonzero = 0, bad_rows = 0;
    for (int64_t r = 0; r < x.numel() / Tk; ++r) {
      double s = 0;
      for (int64_t j = 0; j < Tk; ++j) {
        s += vy[size_t(r * Tk + j)];
        if (c.causal && j > r % Tq + Tk - Tq && vy[size_t(r * Tk + j)] != 0.0) ++masked_nonzero;
      }
      if (!(std::abs(s - 1) <= double(Tk) * kTol<T>)) ++bad_rows;  // Tk terms, each within kTol relative
    }
    CHECK(masked_nonzero == 0);  // masked probabilities are exactly 0
    CHECK(bad_rows == 0);        // rows sum to 1
  }
}

TEST_CASE_TEMPLATE("softmax_forward subtracts the max: logits near 1000 stay finite", T, float, double) {
  // exp(1000) overflows both f32 and f64; without the max shift this would be inf/inf = NaN
  Tensor x = add(random_tensor<T>({4, 9}, 51, -2, 2), 1000.0);
  check_close(softmax_forward(x, false), {4, 9}, softmax_oracle(values(x), {4, 9}, false), kTol<T>);
  Tensor xc = add(random_tensor<T>({4, 9}, 52, -2, 2), -1000.0);  // exp(-1000) underflows to 0
  check_close(softmax_forward(xc, true), {4, 9}, softmax_oracle(values(xc), {4, 9}, true), kTol<T>);
}

TEST_CASE_TEMPLATE("softmax_backward against the Jacobian ∂y_j/∂x_i = y_j (δ_ij - y_i)", T, float, double) {
  for (bool causal : {false, true}) {
    INFO("causal ", causal);
    Shape shape{2, 5, 7};
    Tensor y = softmax_forward(random_tensor<T>(shape, 53, -2, 2), causal);
    Tensor dy = random_tensor<T>(shape, 54);
    std::vector<double> vy = values(y), vdy = values(dy), want(vy.size(), 0.0);
    int64_t C = 7;
    double scale = 0;
    for (int64_t r = 0; r < 10; ++r)
      for (int64_t i = 0; i < C; ++i) {
        // dx_i = Σ_j dy_j ∂y_j/∂x_i, the full O(C²) Jacobian product
        double a = 0;
        for (int64_t j = 0; j < C; ++j) {
          double t = vdy[size_t(r * C + j)] * vy[size_t(r * C + j)] * ((i == j) - vy[size_t(r * C + i)]);
          want[size_t(r * C + i)] += t;
          a += std::abs(t);
        }
        scale = std::max(scale, a);
      }
    // the kernel may form dot = Σ y_j dy_j in T: a sum of C terms is off by at most C·u·Σ|terms|
    // (γ_C), which y_i ≤ 1 carries into dx_i; 4× that covers the subtraction and product, and
    // 1e-14·scale the oracle's own double-precision cancellation
    Tensor dx = softmax_backward(y, dy);
    check_close(dx, shape, want, kTol<T>, (4 * double(C) * kUnit<T> + 1e-14) * scale);
    if (causal) {  // masked y are 0, and so are their gradients, exactly
      std::vector<double> vdx = values(dx);
      int64_t nonzero = 0;
      for (size_t i = 0; i < vy.size(); ++i) nonzero += vy[i] == 0.0 && vdx[i] != 0.0;
      CHECK(nonzero == 0);
    }
  }
}

// =============================================================================================
// layernorm
// =============================================================================================

TEST_CASE_TEMPLATE("layernorm_forward against the formula, with mean and rstd saved as (..., 1)", T, float, double) {
  for (Shape shape : {Shape{7, 13}, Shape{2, 3, 13}, Shape{1, 1}, Shape{160, 130}}) {
    INFO("shape ", shape_str(shape));
    int64_t C = shape.back(), N = numel_of(shape) / C;
    // rows get different offsets and spreads, so a mean or variance mixed up between rows shows
    Tensor x = random_tensor<T>(shape, 60, -1, 1);
    {
      std::vector<double> v = values(x);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) v[size_t(n * C + c)] = v[size_t(n * C + c)] * double(1 + n % 3) + double(n % 5);
      x = to_dtype(from_vector(v, shape), dtype_of<T>());
    }
    Tensor gamma = random_tensor<T>({C}, 61, 0.5, 1.5), beta = random_tensor<T>({C}, 62);
    double eps = 1e-5;
    std::vector<double> vx = values(x), g = values(gamma), b = values(beta);
    std::vector<double> y(vx.size()), mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N));
    double scale = 0;
    for (int64_t n = 0; n < N; ++n) {
      double m = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) m += vx[size_t(n * C + c)];
      m /= double(C);
      for (int64_t c = 0; c < C; ++c) var += (vx[size_t(n * C + c)] - m) * (vx[size_t(n * C + c)] - m);
      var /= double(C);  // the biased variance
      mean[size_t(n)] = m, rstd[size_t(n)] = 1 / std::sqrt(var + eps);
      for (int64_t c = 0; c < C; ++c) {
        double xhat = (vx[size_t(n * C + c)] - m) * rstd[size_t(n)];
        y[size_t(n * C + c)] = xhat * g[size_t(c)] + b[size_t(c)];
        scale = std::max(scale, std::abs(xhat * g[size_t(c)]) + std::abs(b[size_t(c)]));
      }
    }
    LayerNormOutput out = layernorm_forward(x, gamma, beta, eps);
    Shape stat = shape;
    stat.back() = 1;
    // The statistics may be formed in T: a sum of C terms is off by at most C·u·Σ|terms| (γ_C),
    // so the mean by C·u·max|x| absolute (it can be near 0: no relative bound), the variance
    // and so rstd by about C·u relative. y = (x - mean)·rstd·gamma + beta carries those errors
    // into |xhat·gamma| (its scale), plus three roundings in T; the sum with beta may cancel.
    double max_abs_x = 0;
    for (double v : vx) max_abs_x = std::max(max_abs_x, std::abs(v));
    double gamma_C = double(C) * kUnit<T>;
    check_close(out.y, shape, y, kTol<T>, (kTol<T> + 2 * gamma_C) * scale);
    check_close(out.mean, stat, mean, kTol<T>, gamma_C * max_abs_x);
    check_close(out.rstd, stat, rstd, kTol<T> + gamma_C);
  }
}

TEST_CASE_TEMPLATE("layernorm_backward against the full Jacobian of the forward formula", T, float, double) {
  Shape shape{5, 11};
  int64_t C = 11, N = 5;
  Tensor x = random_tensor<T>(shape, 63), dy = random_tensor<T>(shape, 64);
  Tensor gamma = random_tensor<T>({C}, 65, 0.5, 1.5), beta = random_tensor<T>({C}, 66);
  LayerNormOutput fwd = layernorm_forward(x, gamma, beta, 1e-5);
  LayerNormGrads grads = layernorm_backward(dy, x, fwd.mean, fwd.rstd, gamma);

  std::vector<double> vx = values(x), vdy = values(dy), g = values(gamma);
  std::vector<double> dx(vx.size(), 0.0), dgamma(size_t(C), 0.0), dbeta(size_t(C), 0.0);
  double dx_scale = 0, dg_scale = 0, db_scale = 0;
  for (int64_t n = 0; n < N; ++n) {
    double m = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) m += vx[size_t(n * C + c)];
    m /= double(C);
    for (int64_t c = 0; c < C; ++c) var += (vx[size_t(n * C + c)] - m) * (vx[size_t(n * C + c)] - m);
    double r = 1 / std::sqrt(var / double(C) + 1e-5);
    auto xhat = [&](int64_t c) { return (vx[size_t(n * C + c)] - m) * r; };
    // ∂xhat_j/∂x_i = r (δ_ij - 1/C - xhat_i xhat_j / C), from ∂mean/∂x_i = 1/C and
    // ∂r/∂x_i = -r³ (x_i - mean) / C; then dx_i = Σ_j dy_j γ_j ∂xhat_j/∂x_i
    for (int64_t i = 0; i < C; ++i) {
      double a = 0;
      for (int64_t j = 0; j < C; ++j) {
        double t = vdy[size_t(n * C + j)] * g[size_t(j)] * r * ((i == j) - 1.0 / double(C) - xhat(i) * xhat(j) / double(C));
        dx[size_t(n * C + i)] += t;
        a += std::abs(t);
      }
      dx_scale = std::max(dx_scale, a);
    }
    for (int64_t c = 0; c < C; ++c) {
      dgamma[size_t(c)] += vdy[size_t(n * C + c)] * xhat(c);
      dbeta[size_t(c)] += vdy[size_t(n * C + c)];
      dg_scale += std::abs(vdy[size_t(n * C + c)] * xhat(c));
      db_scale += std::abs(vdy[size_t(n * C + c)]);
    }
  }
  // dx: mean and rstd arrive rounded to T, and dx cancels three terms of the size of the
  // Jacobian terms; a few ulps of that size. dgamma, dbeta: sums over N rows taken in T,
  // |error| <= γ_N Σ|terms| with a few more roundings per term; doubled for the oracle's own
  // double sum, which in f64 may err as much.
  check_close(grads.dx, shape, dx, kTol<T>, kTol<T> * dx_scale);
  check_close(grads.dgamma, {C}, dgamma, kTol<T>, 2 * double(N + 4) * kUnit<T> * dg_scale);
  check_close(grads.dbeta, {C}, dbeta, kTol<T>, 2 * double(N + 1) * kUnit<T> * db_scale);
}

// =============================================================================================
// GELU
// =============================================================================================

namespace {

// The forward formulas. x Φ(x) is written with erfc so that it does not cancel for x < 0.
double gelu_ref(double x, GeluKind kind) {
  if (kind == GeluKind::erf) return 0.5 * x * std::erfc(-x / std::numbers::sqrt2);
  double u = std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1 + std::tanh(u));
}

// Their derivatives, by hand: erf: Φ(x) + x φ(x); tanh: 0.5 (1 + tanh u) + 0.5 x sech²(u) u'.
double gelu_grad_ref(double x, GeluKind kind) {
  if (kind == GeluKind::erf)
    return 0.5 * std::erfc(-x / std::numbers::sqrt2) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi);
  double k = std::sqrt(2 / std::numbers::pi), u = k * (x + 0.044715 * x * x * x);
  double du = k * (1 + 3 * 0.044715 * x * x), sech = 1 / std::cosh(u);
  return 0.5 * (1 + std::tanh(u)) + 0.5 * x * sech * sech * du;
}

}  // namespace

TEST_CASE_TEMPLATE("gelu_forward and gelu_backward, tanh and erf kinds, against the formulas", T, float, double) {
  for (GeluKind kind : {GeluKind::tanh, GeluKind::erf}) {
    INFO((kind == GeluKind::tanh ? "tanh" : "erf"));
    Tensor x = random_tensor<T>({7, 13}, 70, -4, 4), dy = random_tensor<T>({7, 13}, 71);
    std::vector<double> vx = values(x), vdy = values(dy), y, dx;
    for (size_t i = 0; i < vx.size(); ++i) {
      y.push_back(gelu_ref(vx[i], kind));
      dx.push_back(vdy[i] * gelu_grad_ref(vx[i], kind));
    }
    // The kernel forms 1 + erf (1 + tanh), which cancels for x < 0 and (1 - tanh²) which cancels
    // for large |x|: it is accurate to a few ulps of |x| <= 4 (of the derivative's terms, up to
    // ~5 here), not of the tiny result; hence the absolute part.
    check_close(gelu_forward(x, kind), {7, 13}, y, kTol<T>, kTol<T> * 4);
    check_close(gelu_backward(x, dy, kind), {7, 13}, dx, kTol<T>, kTol<T> * 10);
    // the two kinds differ by up to ~1e-3 near |x| = 2: a kind mix-up fails the checks above
  }
}

TEST_CASE("gelu_backward is the derivative of gelu_forward (central differences in f64)") {
  for (GeluKind kind : {GeluKind::tanh, GeluKind::erf}) {
    INFO((kind == GeluKind::tanh ? "tanh" : "erf"));
    Tensor x = random_tensor<double>({50}, 72, -4, 4);
    double h = 1e-6;
    Tensor fd = mul(sub(gelu_forward(add(x, h), kind), gelu_forward(add(x, -h), kind)), 0.5 / h);
    // truncation h²|f'''|/6 ~ 1e-13, rounding 2^-53·|f|/h ~ 5e-10
    check_close(gelu_backward(x, ones({50}, DType::f64), kind), {50}, values(fd), 0, 1e-8);
  }
}

// =============================================================================================
// embedding
// =============================================================================================

TEST_CASE_TEMPLATE("embedding_forward gathers rows; embedding_backward adds repeated ids", T, float, double) {
  Tensor weight = random_tensor<T>({5, 3}, 80);
  Tensor ids = from_vector(std::vector<int32_t>{4, 0, 4, 2, 2, 4}, {2, 3});  // 4 three times, 2 twice, 1 and 3 never
  std::vector<double> w = values(weight);
  std::vector<int32_t> vid = ids.to_vector<int32_t>();
  std::vector<double> want;
  for (int32_t id : vid)
    for (int c = 0; c < 3; ++c) want.push_back(w[size_t(id * 3 + c)]);
  check_close(embedding_forward(weight, ids), {2, 3, 3}, want, 0);  // a copy: exact

  Tensor dout = random_tensor<T>({2, 3, 3}, 81);
  std::vector<double> vd = values(dout), dw(15, 0.0);
  for (size_t i = 0; i < vid.size(); ++i)
    for (size_t c = 0; c < 3; ++c) dw[size_t(vid[i]) * 3 + c] += vd[i * 3 + c];
  // up to 3 terms of size <= 1 added in T: γ_3 · 3, twice (kernel and, in f64, the oracle)
  check_close(embedding_backward(dout, ids, 5), {5, 3}, dw, kTol<T>, 2 * 9 * kUnit<T>);

  // > kParallelGrain: the channels are split over threads; 64 positions, ids cycling over 7
  std::vector<int32_t> many(64);
  for (size_t i = 0; i < many.size(); ++i) many[i] = int32_t(i % 7);
  Tensor dbig = random_tensor<T>({64, 300}, 82);
  std::vector<double> vb = values(dbig), dwb(7 * 300, 0.0);
  for (size_t i = 0; i < 64; ++i)
    for (size_t c = 0; c < 300; ++c) dwb[size_t(many[i]) * 300 + c] += vb[i * 300 + c];
  // 10 terms per row at most: γ_10 · 10, twice as above
  check_close(embedding_backward(dbig, from_vector(many, {64}), 7), {7, 300}, dwb, kTol<T>, 2 * 100 * kUnit<T>);
}

// =============================================================================================
// cross-entropy
// =============================================================================================

namespace {

// loss = mean over kept rows of -log softmax(x_n)[t_n]; grad = dloss/count (p - onehot).
void cross_entropy_oracle(const std::vector<double>& x, const std::vector<int32_t>& t, int64_t V, int64_t ignore,
                          double dloss, double& loss, std::vector<double>& grad) {
  int64_t N = int64_t(t.size()), count = 0;
  loss = 0;
  grad.assign(x.size(), 0.0);
  for (int64_t n = 0; n < N; ++n) count += t[size_t(n)] != ignore;
  for (int64_t n = 0; n < N; ++n) {
    if (t[size_t(n)] == ignore) continue;
    double m = *std::max_element(x.begin() + n * V, x.begin() + (n + 1) * V), s = 0;
    for (int64_t j = 0; j < V; ++j) s += std::exp(x[size_t(n * V + j)] - m);
    double lse = m + std::log(s);
    loss += (lse - x[size_t(n * V + t[size_t(n)])]) / double(count);
    for (int64_t j = 0; j < V; ++j)
      grad[size_t(n * V + j)] = dloss / double(count) * (std::exp(x[size_t(n * V + j)] - lse) - (j == t[size_t(n)]));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("cross_entropy_forward/backward with ignore_index", T, float, double) {
  int64_t N = 6, V = 5;
  Tensor logits = random_tensor<T>({N, V}, 90, -2, 2);
  std::vector<double> vx = values(logits);
  struct Case {
    std::vector<int32_t> targets;
    int64_t ignore;
  };
  for (Case c : {Case{{0, 4, 2, 2, 1, 3}, -100},           // nothing ignored
                 Case{{0, -100, 2, 2, -100, 3}, -100},     // two rows ignored
                 Case{{3, 0, 3, 1, 4, 3}, 3},              // a valid class used as ignore_index
                 Case{{-1, -1, -1, -1, -1, -1}, -1}}) {    // all rows ignored: loss 0, gradient 0
    INFO("ignore_index ", c.ignore);
    Tensor targets = from_vector(c.targets, {N});
    double loss;
    std::vector<double> grad;
    cross_entropy_oracle(vx, c.targets, V, c.ignore, 0.75, loss, grad);
    // the exp-sum of logsumexp may be formed in T (V = 5 terms: ≤ 5u relative, inside kTol) and
    // its log in double; the gradient's target entry p - 1 is
    // formed in T (cancelling), so a few ulps of dloss/count absolute
    check_close(cross_entropy_forward(logits, targets, c.ignore), {}, {loss}, kTol<T>);
    check_close(cross_entropy_backward(logits, targets, 0.75, c.ignore), {N, V}, grad, kTol<T>, kTol<T> * 0.75);
  }
  // the default ignore_index is -100
  std::vector<int32_t> t{1, -100, 0, 4, -100, 2};
  double loss;
  std::vector<double> grad;
  cross_entropy_oracle(vx, t, V, -100, 1.0, loss, grad);
  check_close(cross_entropy_forward(logits, from_vector(t, {N})), {}, {loss}, kTol<T>);
  check_close(cross_entropy_backward(logits, from_vector(t, {N}), 1.0), {N, V}, grad, kTol<T>, kTol<T>);
  // logits near 1000: exp would overflow without the max shift; the loss is shift-invariant
  Tensor big = add(logits, 1000.0);
  cross_entropy_oracle(values(big), t, V, -100, 1.0, loss, grad);
  check_close(cross_entropy_forward(big, from_vector(t, {N})), {}, {loss}, kTol<T>, kTol<T> * 1000);  // lse ≈ 1000 cancels
  check_close(cross_entropy_backward(big, from_vector(t, {N}), 1.0), {N, V}, grad, kTol<T>, kTol<T>);
}

// =============================================================================================
// dropout and random tensors
// =============================================================================================

TEST_CASE_TEMPLATE("dropout: p = 0 is the identity; kept values scaled by 1/(1-p); the mask is the stream's", T, float,
                   double) {
  Shape shape{37, 29};
  Tensor x = random_tensor<T>(shape, 100, 0.5, 1.5);  // never 0, so a dropped element is recognisable
  PhiloxState st{11, 2, 40};
  Tensor y0 = dropout(x, 0.0, st);
  check_close(y0, shape, values(x), 0);
  CHECK_FALSE(y0.shares_storage_with(x));  // a copy, as for p > 0

  double p = 0.25;
  Tensor y = dropout(x, p, st);
  // oracle: keep element i when uniform(draw st.offset + i) >= p, draw d = lane d%4 of block d/4
  std::vector<double> vx = values(x), want;
  for (size_t i = 0; i < vx.size(); ++i) {
    uint64_t d = st.offset + i;
    bool keep = double(uniform_from_bits(philox_block(st.seed, st.stream, d / 4)[d % 4])) >= p;
    want.push_back(keep ? vx[i] / (1 - p) : 0.0);
  }
  check_close(y, shape, want, kTol<T>);  // kept: one rounding of x·scale (scale rounded too)

  // backward: dropout is linear in x, so dropout(dy) with the same state masks the same positions
  Tensor dy = random_tensor<T>(shape, 101, 0.5, 1.5);
  Tensor dx = dropout(dy, p, st);
  std::vector<double> vy = values(y), vdx = values(dx), vdy = values(dy);
  int64_t mask_differs = 0, dropped = 0;
  for (size_t i = 0; i < vy.size(); ++i) {
    mask_differs += (vy[i] == 0.0) != (vdx[i] == 0.0);
    dropped += vy[i] == 0.0;
  }
  CHECK(mask_differs == 0);
  CHECK(dropped > 0);  // the mask is not empty, so the comparison above means something
  check_close(dropout(add(x, dy), p, st), shape, values(add(y, dx)), 2 * kTol<T>);  // linear (two roundings)
  // the same state gives the same mask; another offset or seed gives another one
  CHECK(values(dropout(x, p, st)) == vy);
  CHECK(values(dropout(x, p, PhiloxState{11, 2, 44})) != vy);
  CHECK(values(dropout(x, p, PhiloxState{12, 2, 40})) != vy);
  CHECK(values(dropout(x, p, PhiloxState{11, 3, 40})) != vy);
}

TEST_CASE("dropout zeroes a fraction p of a large tensor") {
  // n = 2^20 draws; the number of zeros is Binomial(n, p) (p rounded to 2^-24, negligible).
  // Its standard deviation is sqrt(p(1-p)/n) <= 4.9e-4 as a fraction; allowing 5 sigma makes a
  // false failure a 6e-7 chance for a random seed, while a sampler off by 0.01 in p fails.
  int64_t n = int64_t(1) << 20;
  Tensor x = ones({n});
  for (double p : {0.1, 0.5, 0.9}) {
    INFO("p ", p);
    std::vector<float> y = dropout(x, p, PhiloxState{7, 0, 0}).to_vector<float>();
    int64_t zeros_count = std::count(y.begin(), y.end(), 0.0f);
    double sigma = std::sqrt(p * (1 - p) / double(n));
    CHECK(std::abs(double(zeros_count) / double(n) - p) <= 5 * sigma);
    // every kept value is 1/(1-p), rounded once to f32
    int64_t wrong = 0;
    for (float v : y) wrong += v != 0.0f && std::abs(double(v) * (1 - p) - 1) > kTol<float>;
    CHECK(wrong == 0);
  }
}

TEST_CASE("rand is uniform in [0, 1); randn is standard normal") {
  int64_t n = int64_t(1) << 20;
  Generator gen{2024, 0, 0};
  std::vector<double> u = rand({n}, gen).to_vector<double>();
  CHECK(gen.offset == uint64_t(n));  // n draws taken
  double lo = *std::min_element(u.begin(), u.end()), hi = *std::max_element(u.begin(), u.end());
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  CHECK(lo < 1e-4);  // 2^20 draws reach close to both ends
  CHECK(hi > 1 - 1e-4);
  double mean = 0, var = 0;
  for (double v : u) mean += v;
  mean /= double(n);
  for (double v : u) var += (v - mean) * (v - mean);
  var /= double(n);
  // uniform: sd of the sample mean sqrt(1/12/n) = 2.8e-4; sd of the sample variance
  // sqrt((1/80 - 1/144)/n) = 7.3e-5; 5 sigma each (a 6e-7 chance of a false failure)
  CHECK(std::abs(mean - 0.5) <= 5 * 2.82e-4);
  CHECK(std::abs(var - 1.0 / 12) <= 5 * 7.3e-5);

  std::vector<double> z = randn({n}, gen).to_vector<double>();
  CHECK(gen.offset == uint64_t(3 * n));  // 2 draws per normal
  double zm = 0, zv = 0;
  int64_t within1 = 0;
  for (double v : z) zm += v, within1 += std::abs(v) < 1;
  zm /= double(n);
  for (double v : z) zv += (v - zm) * (v - zm);
  double zs = std::sqrt(zv / double(n));
  // normal: sd of the mean 1/sqrt(n) = 9.8e-4, of the sample std 1/sqrt(2n) = 6.9e-4; P(|z| < 1)
  // = 0.682689 with binomial sd sqrt(p(1-p)/n) = 4.5e-4 (this catches a wrong shape with the
  // right mean and std); 5 sigma each
  CHECK(std::abs(zm) <= 5 * 9.8e-4);
  CHECK(std::abs(zs - 1) <= 5 * 6.9e-4);
  CHECK(std::abs(double(within1) / double(n) - 0.682689492) <= 5 * 4.5e-4);
}

TEST_CASE("rand and randn: f64 and f32 read the same draws; randn is computed in double") {
  Generator g32{5, 1, 0}, g64{5, 1, 0};
  std::vector<float> u32 = rand({1000}, g32, DType::f32).to_vector<float>();
  std::vector<double> u64 = rand({1000}, g64, DType::f64).to_vector<double>();
  std::vector<float> z32 = randn({1000}, g32, DType::f32).to_vector<float>();
  std::vector<double> z64 = randn({1000}, g64, DType::f64).to_vector<double>();
  int64_t u_diff = 0, z_diff = 0;
  for (size_t i = 0; i < 1000; ++i) {
    u_diff += double(u32[i]) != u64[i];  // 24-bit uniforms are exact in both
    z_diff += z32[i] != float(z64[i]);   // the f32 normal is the f64 normal, rounded once
  }
  CHECK(u_diff == 0);
  CHECK(z_diff == 0);
}

TEST_CASE("rand, randn and dropout give the same bits with 1 or 2 OpenMP threads") {
  // 100000 > kParallelGrain (65536) elements, so 2 threads really split the loop
  auto run = [](int threads) {
    ThreadCount t(threads);
    Generator gen{77, 4, 0};
    Tensor u = rand({100000}, gen), z = randn({100000}, gen, DType::f64);
    Tensor d = dropout(ones({100000}), 0.5, gen.take(100000));
    return std::vector<std::vector<double>>{values(u), values(z), values(d)};
  };
  std::vector<std::vector<double>> one = run(1), two = run(2);
  CHECK(one[0] == two[0]);
  CHECK(one[1] == two[1]);
  CHECK(one[2] == two[2]);
}

// The plain samplers, one draw at a time: draw d is lane d % 4 of block d / 4, a whole block
// computed for each draw. The library reads 16 blocks at a time (philox_blocks16) and must give
// these exact bits.
static uint32_t plain_draw(const PhiloxState& s, uint64_t i) {
  uint64_t d = s.offset + i;
  return philox_block(s.seed, s.stream, d / 4)[d % 4];
}
template <class T> std::vector<T> plain_dropout(const std::vector<T>& x, double p, const PhiloxState& s) {
  std::vector<T> y(x.size());
  T scale = T(1.0 / (1.0 - p));
  for (size_t i = 0; i < x.size(); ++i) y[i] = uniform_from_bits(plain_draw(s, i)) >= float(p) ? x[i] * scale : T(0);
  return y;
}

TEST_CASE_TEMPLATE("dropout equals the plain draw-by-draw loop bit for bit: odd sizes, offsets, p, threads", T, float,
                   double) {
  // Sizes around the 64-draw group (1, 63, 64, 65), an odd one, and one above kParallelGrain
  // (65536) that 2 threads split; offsets of 0, one block, mid-group, a group, and one whose
  // blocks carry into the counter's high word (block 2^32 - 3). Tolerance 0: the same draws,
  // the same comparison and the same one multiply.
  for (int64_t n : {1, 3, 63, 64, 65, 1001, 70001})
    for (uint64_t offset : {uint64_t(0), uint64_t(4), uint64_t(40), uint64_t(256), uint64_t(4 * 0xfffffffdull)})
      for (double p : {0.1, 0.5})
        for (int threads : {1, 2}) {
          CAPTURE(n);
          CAPTURE(offset);
          CAPTURE(p);
          CAPTURE(threads);
          ThreadCount t(threads);
          PhiloxState st{0x5eed5eed12345678ull, 3, offset};
          Tensor x = random_tensor<T>({n}, uint64_t(n), 0.5, 1.5);  // never 0: a drop is visible
          std::vector<T> got = dropout(x, p, st).template to_vector<T>();
          std::vector<T> want = plain_dropout(x.template to_vector<T>(), p, st);
          CHECK(got == want);
          if (n >= 1001) CHECK(std::count(want.begin(), want.end(), T(0)) > 0);  // the mask is not empty
        }
}

TEST_CASE("rand and randn equal the plain draw-by-draw loops bit for bit, for any thread count") {
  // rand: element i is uniform(draw i); randn: Box-Muller of draws 2i and 2i + 1, in double,
  // the same expression as tensor/ops_random.cpp, so the same libm calls on the same arguments.
  // Sizes end mid-group (64 uniforms or 32 normals per group) and 70001 is split over 2 threads.
  for (int64_t n : {1, 33, 70001})
    for (int threads : {1, 2}) {
      CAPTURE(n);
      CAPTURE(threads);
      ThreadCount t(threads);
      Generator gen{0xabcdef0123ull, 9, 4 * 5};
      PhiloxState su{gen.seed, gen.stream, gen.offset};
      std::vector<float> u = rand({n}, gen).to_vector<float>();
      PhiloxState sz{gen.seed, gen.stream, gen.offset};
      std::vector<double> z = randn({n}, gen, DType::f64).to_vector<double>();
      int64_t u_wrong = 0, z_wrong = 0;
      for (int64_t i = 0; i < n; ++i) {
        u_wrong += u[size_t(i)] != uniform_from_bits(plain_draw(su, uint64_t(i)));
        double u1 = (double(plain_draw(sz, 2 * uint64_t(i))) + 1.0) * 0x1p-32;
        double u2 = double(plain_draw(sz, 2 * uint64_t(i) + 1)) * 0x1p-32;
        z_wrong += z[size_t(i)] != std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
      }
      CHECK(u_wrong == 0);
      CHECK(z_wrong == 0);
    }
}

// =============================================================================================
// shape ops
// =============================================================================================

namespace {

// out[idx] = x[idx permuted back]: output axis k reads input axis dims[k] (dims non-negative).
std::vector<double> permute_oracle(const std::vector<double>& x, const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out(dims.size());
  for (size_t k = 0; k < dims.size(); ++k) out[k] = shape[size_t(dims[k])];
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < int64_t(x.size()); ++i) {
    std::vector<int64_t> oi = unravel(i, out), xi(dims.size());
    for (size_t k = 0; k < dims.size(); ++k) xi[size_t(dims[k])] = oi[k];
    int64_t src = 0;
    for (size_t k = 0; k < shape.size(); ++k) src = src * shape[k] + xi[k];
    y[size_t(i)] = x[size_t(src)];
  }
  return y;
}

}  // namespace

TEST_CASE("concat joins along any axis, negative axes included, for f32, f64 and i32") {
  for (DType dt : {DType::f32, DType::f64, DType::i32}) {
    INFO(to_string(dt));
    Tensor a = arange(0, 6, dt).reshape({2, 3}), b = arange(6, 10, dt).reshape({2, 2}), c = arange(10, 13, dt).reshape({1, 3});
    Tensor ab = concat({a, b}, 1);
    CHECK(ab.dtype() == dt);
    check_close(ab, {2, 5}, {0, 1, 2, 6, 7, 3, 4, 5, 8, 9}, 0);
    check_close(concat({a, b}, -1), {2, 5}, {0, 1, 2, 6, 7, 3, 4, 5, 8, 9}, 0);
    check_close(concat({a, c}, 0), {3, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12}, 0);
    check_close(concat({c, a, c}, -2), {4, 3}, {10, 11, 12, 0, 1, 2, 3, 4, 5, 10, 11, 12}, 0);
    check_close(concat({a}, 0), {2, 3}, {0, 1, 2, 3, 4, 5}, 0);
  }
  // three pieces of sizes 1, 2, 3 along the middle axis of a rank-3 tensor; the middle one is
  // empty along that axis in a second round
  for (int64_t mid : {2, 0}) {
    INFO("middle size ", mid);
    std::vector<Tensor> xs = {random_tensor<float>({2, 1, 4}, 110), random_tensor<float>({2, mid, 4}, 111),
                              random_tensor<float>({2, 3, 4}, 112)};
    int64_t total = 4 + mid;
    std::vector<double> want;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < total; ++j) {
        size_t which = j < 1 ? 0 : j < 1 + mid ? 1 : 2;
        int64_t jj = which == 0 ? j : which == 1 ? j - 1 : j - 1 - mid;
        std::vector<double> v = values(xs[which]);
        for (int64_t k = 0; k < 4; ++k) want.push_back(v[size_t((i * xs[which].size(1) + jj) * 4 + k)]);
      }
    check_close(concat(xs, 1), {2, total, 4}, want, 0);
  }
}

TEST_CASE("slice takes [start, end) along an axis; slice_backward puts it back among zeros") {
  for (DType dt : {DType::f32, DType::f64, DType::i32}) {
    INFO(to_string(dt));
    Tensor x = arange(0, 60, dt).reshape({3, 5, 4});  // x[i][j][k] = 20 i + 4 j + k
    std::vector<double> want;
    for (int i = 0; i < 3; ++i)
      for (int j = 1; j < 4; ++j)
        for (int k = 0; k < 4; ++k) want.push_back(20 * i + 4 * j + k);
    Tensor s = slice(x, 1, 1, 4);
    CHECK(s.dtype() == dt);
    check_close(s, {3, 3, 4}, want, 0);
    check_close(slice(x, -2, 1, 4), {3, 3, 4}, want, 0);
    want.clear();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j)
        for (int k = 2; k < 4; ++k) want.push_back(20 * i + 4 * j + k);
    check_close(slice(x, -1, 2, 4), {3, 5, 2}, want, 0);
    check_close(slice(x, 0, 2, 3), {1, 5, 4}, values(arange(40, 60, dt)), 0);
    check_close(slice(x, 0, 0, 3), {3, 5, 4}, values(x), 0);  // the whole axis
    CHECK(slice(x, 1, 2, 2).shape() == Shape{3, 0, 4});      // an empty range

    // backward: dx[i][j][k] = dy[i][j - 1][k] for 1 <= j < 4, else 0
    Tensor dy = slice(x, 1, 1, 4);
    want.clear();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j)
        for (int k = 0; k < 4; ++k) want.push_back(j >= 1 && j < 4 ? 20 * i + 4 * j + k : 0);
    Tensor dx = slice_backward(dy, {3, 5, 4}, 1, 1);
    CHECK(dx.dtype() == dt);
    check_close(dx, {3, 5, 4}, want, 0);
    check_close(slice_backward(dy, {3, 5, 4}, -2, 1), {3, 5, 4}, want, 0);
  }
}

TEST_CASE("permute and transpose move values, negative axes included, for f32 and i32") {
  for (DType dt : {DType::f32, DType::i32}) {
    INFO(to_string(dt));
    Tensor x = arange(0, 24, dt).reshape({2, 3, 4});  // x[i][j][k] = 12 i + 4 j + k
    // by hand: out[k][i][j] = x[i][j][k]
    std::vector<double> want;
    for (int k = 0; k < 4; ++k)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) want.push_back(12 * i + 4 * j + k);
    Tensor p = permute(x, {2, 0, 1});
    CHECK(p.dtype() == dt);
    check_close(p, {4, 2, 3}, want, 0);
    check_close(permute(x, {-1, 0, -2}), {4, 2, 3}, want, 0);
    check_close(permute(x, {0, 1, 2}), {2, 3, 4}, values(x), 0);
    // transpose(0, -1): out[k][j][i] = x[i][j][k]
    want.clear();
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 3; ++j)
        for (int i = 0; i < 2; ++i) want.push_back(12 * i + 4 * j + k);
    check_close(transpose(x, 0, -1), {4, 3, 2}, want, 0);
    check_close(transpose(x, 1, 1), {2, 3, 4}, values(x), 0);
  }
  // rank 4, and a tensor large enough for the threaded loop, through the index oracle
  Tensor x4 = random_tensor<double>({2, 3, 4, 5}, 120);
  check_close(permute(x4, {3, 1, 0, 2}), {5, 3, 2, 4}, permute_oracle(values(x4), {2, 3, 4, 5}, {3, 1, 0, 2}), 0);
  Tensor big = random_tensor<float>({64, 32, 16}, 121);
  check_close(permute(big, {1, 2, 0}), {32, 16, 64}, permute_oracle(values(big), {64, 32, 16}, {1, 2, 0}), 0);
  check_close(transpose(big, -1, -2), {64, 16, 32}, permute_oracle(values(big), {64, 32, 16}, {0, 2, 1}), 0);
  check_close(permute(scalar(5.0), {}), {}, {5.0}, 0);  // 0-d: nothing to move
}

// =============================================================================================
// errors: each names the op and what was wrong
// =============================================================================================

TEST_CASE("errors: elementwise ops reject broadcast mismatches, mixed dtypes and i32") {
  Tensor f23 = zeros({2, 3}), f4 = zeros({4}), f2 = zeros({2}), d2 = zeros({2}, DType::f64), i2 = zeros({2}, DType::i32);
  CHECK_THROWS_WITH_AS(add(f23, f4),
                       doctest::Contains("add: shapes (2, 3) and (4,) cannot be broadcast: axis 0 from the right has sizes 3 and 4"),
                       Error);
  CHECK_THROWS_WITH_AS(mul(zeros({4, 1, 3}), zeros({2, 2})),
                       doctest::Contains("mul: shapes (4, 1, 3) and (2, 2) cannot be broadcast: axis 0 from the right"), Error);
  CHECK_THROWS_WITH_AS(sub(f23, zeros({3, 3})),
                       doctest::Contains("sub: shapes (2, 3) and (3, 3) cannot be broadcast: axis 1 from the right has sizes 2 and 3"),
                       Error);
  CHECK_THROWS_WITH_AS(div(f2, d2), doctest::Contains("div: dtypes differ: f32 (2,) and f64 (2,)"), Error);
  CHECK_THROWS_WITH_AS(add(i2, f2), doctest::Contains("add: first input must be f32 or f64, got i32 with shape (2,)"), Error);
  CHECK_THROWS_WITH_AS(mul(f2, i2), doctest::Contains("mul: second input must be f32 or f64, got i32 with shape (2,)"), Error);
  CHECK_THROWS_WITH_AS(add(i2, 1.0), doctest::Contains("add: input must be f32 or f64, got i32"), Error);
  CHECK_THROWS_WITH_AS(mul(i2, 2.0), doctest::Contains("mul: input must be f32 or f64, got i32"), Error);
  CHECK_THROWS_WITH_AS(add(Tensor(), f2), doctest::Contains("add: first input is an undefined tensor"), Error);
  std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> unary = {
      {"neg", [](const Tensor& x) { return neg(x); }},     {"exp", [](const Tensor& x) { return exp(x); }},
      {"log", [](const Tensor& x) { return log(x); }},     {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }},   {"rsqrt", [](const Tensor& x) { return rsqrt(x); }},
      {"pow", [](const Tensor& x) { return pow(x, 2.0); }}, {"erf", [](const Tensor& x) { return erf(x); }},
  };
  for (auto& [name, op] : unary) {
    std::string msg = name + ": input must be f32 or f64, got i32 with shape (3,)";
    CHECK_THROWS_WITH_AS(op(zeros({3}, DType::i32)), doctest::Contains(msg.c_str()), Error);
  }
  CHECK_THROWS_WITH_AS(add_inplace(f2, zeros({3})),
                       doctest::Contains("add_inplace: destination has shape (2,) but source has shape (3,)"), Error);
  CHECK_THROWS_WITH_AS(add_inplace(f2, zeros({1})), doctest::Contains("add_inplace: destination has shape (2,)"), Error);
  CHECK_THROWS_WITH_AS(add_inplace(f2, d2), doctest::Contains("add_inplace: dtypes differ: f32 (2,) and f64 (2,)"), Error);
  CHECK_THROWS_WITH_AS(sum_to(zeros({2, 4}), {2, 1, 4}),
                       doctest::Contains("sum_to: shape (2, 1, 4) does not broadcast to the input's shape (2, 4)"), Error);
  CHECK_THROWS_WITH_AS(sum_to(zeros({2, 4}), {3}), doctest::Contains("sum_to: shapes (3,) and (2, 4) cannot be broadcast"),
                       Error);
  CHECK_THROWS_WITH_AS(sum_to(zeros({2, 4}, DType::i32), {4}), doctest::Contains("sum_to: input must be f32 or f64, got i32"),
                       Error);
}

TEST_CASE("errors: reductions reject empty input, 0-d input to last-axis ops, and i32") {
  CHECK_THROWS_WITH_AS(mean(zeros({0, 3})), doctest::Contains("mean: the input is empty (shape (0, 3))"), Error);
  CHECK_THROWS_WITH_AS(max(zeros({0})), doctest::Contains("max: the input is empty (shape (0,))"), Error);
  CHECK_THROWS_WITH_AS(sum_last(zeros({2, 0})), doctest::Contains("sum_last: the last axis is empty (shape (2, 0))"), Error);
  CHECK_THROWS_WITH_AS(mean_last(zeros({2, 0})), doctest::Contains("mean_last: the last axis is empty"), Error);
  CHECK_THROWS_WITH_AS(max_last(zeros({0})), doctest::Contains("max_last: the last axis is empty (shape (0,))"), Error);
  CHECK_THROWS_WITH_AS(argmax_last(zeros({3, 0})), doctest::Contains("argmax_last: the last axis is empty"), Error);
  CHECK_THROWS_WITH_AS(sum_last(scalar(1.0)), doctest::Contains("sum_last: expected at least one axis, got a 0-d tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(argmax_last(scalar(1.0)), doctest::Contains("argmax_last: expected at least one axis"), Error);
  CHECK_THROWS_WITH_AS(sum(zeros({2}, DType::i32)), doctest::Contains("sum: input must be f32 or f64, got i32"), Error);
  CHECK_THROWS_WITH_AS(max_last(zeros({2}, DType::i32)), doctest::Contains("max_last: input must be f32 or f64, got i32"),
                       Error);
  // one_hot
  Tensor idx = from_vector(std::vector<int32_t>{0, 3}, {2, 1});
  CHECK_THROWS_WITH_AS(one_hot(idx, 3, DType::f32), doctest::Contains("one_hot: index 3 at row 1 is outside [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(one_hot(from_vector(std::vector<int32_t>{-1}, {1, 1}), 3, DType::f32),
                       doctest::Contains("one_hot: index -1 at row 0 is outside [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(one_hot(zeros({2, 1}), 3, DType::f32), doctest::Contains("one_hot: index must be i32, got f32"), Error);
  CHECK_THROWS_WITH_AS(one_hot(zeros({3}, DType::i32), 3, DType::f32),
                       doctest::Contains("one_hot: index must be (..., 1), got shape (3,)"), Error);
  CHECK_THROWS_WITH_AS(one_hot(zeros({2, 1}, DType::i32), 3, DType::i32),
                       doctest::Contains("one_hot: dtype must be f32 or f64, got i32 with shape (2, 3)"), Error);
}

TEST_CASE("errors: matmul names inner-dimension, batch, rank and dtype mismatches") {
  CHECK_THROWS_WITH_AS(matmul(zeros({4, 3}), zeros({5, 2})),
                       doctest::Contains("matmul: inner dimensions differ: a is (4, 3), b is (5, 2); expected 3 == 5"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({3, 4}), zeros({5, 2}), true, false),
                       doctest::Contains("matmul: inner dimensions differ: a is (3, 4) (transposed), b is (5, 2); expected 3 == 5"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({4, 3}), zeros({2, 5}), false, true),
                       doctest::Contains("b is (2, 5) (transposed); expected 3 == 5"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 4, 3}), zeros({3, 3, 5})),
                       doctest::Contains("matmul: batch axes differ: a is (2, 4, 3), b is (3, 3, 5); expected equal leading axes"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 4, 3}), zeros({3, 5})),
                       doctest::Contains("matmul: batch axes differ: a is (2, 4, 3), b is (3, 5)"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({3}), zeros({3, 2})),
                       doctest::Contains("matmul: both inputs need at least 2 axes, got a (3,) and b (3, 2)"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({3, 2}), scalar(1.0)),
                       doctest::Contains("matmul: both inputs need at least 2 axes, got a (3, 2) and b ()"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 2}), zeros({2, 2}, DType::f64)),
                       doctest::Contains("matmul: dtypes differ: f32 (2, 2) and f64 (2, 2)"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 2}, DType::i32), zeros({2, 2})),
                       doctest::Contains("matmul: first input must be f32 or f64, got i32"), Error);
}

TEST_CASE("errors: softmax and softmax_backward") {
  CHECK_THROWS_WITH_AS(softmax_forward(zeros({3, 2}), true),
                       doctest::Contains("softmax: causal mode needs scores (..., Tq, Tk) with Tq <= Tk, got shape (3, 2)"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax_forward(zeros({5}), true),
                       doctest::Contains("softmax: causal mode needs scores (..., Tq, Tk) with Tq <= Tk, got shape (5,)"), Error);
  CHECK_THROWS_WITH_AS(softmax_forward(zeros({2, 0})), doctest::Contains("softmax: expected a non-empty last axis, got shape (2, 0)"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax_forward(scalar(1.0)), doctest::Contains("softmax: expected a non-empty last axis, got shape ()"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax_forward(zeros({2}, DType::i32)), doctest::Contains("softmax: input must be f32 or f64, got i32"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax_backward(zeros({2, 3}), zeros({3, 2})),
                       doctest::Contains("softmax_backward: y has shape (2, 3) but dy has shape (3, 2)"), Error);
  CHECK_THROWS_WITH_AS(softmax_backward(zeros({2, 3}), zeros({2, 3}, DType::f64)),
                       doctest::Contains("softmax_backward: dtypes differ: f32 (2, 3) and f64 (2, 3)"), Error);
}

TEST_CASE("errors: layernorm gamma/beta shapes, dtypes, eps; layernorm_backward shapes") {
  Tensor x = zeros({2, 4}), g = ones({4}), b = zeros({4});
  CHECK_THROWS_WITH_AS(layernorm_forward(x, ones({3}), b, 1e-5),
                       doctest::Contains("layernorm: gamma must have shape (4,) to match x (2, 4), got (3,)"), Error);
  CHECK_THROWS_WITH_AS(layernorm_forward(x, g, zeros({4, 1}), 1e-5),
                       doctest::Contains("layernorm: beta must have shape (4,) to match x (2, 4), got (4, 1)"), Error);
  CHECK_THROWS_WITH_AS(layernorm_forward(x, Tensor(), b, 1e-5), doctest::Contains("layernorm: gamma must have shape (4,)"), Error);
  CHECK_THROWS_WITH_AS(layernorm_forward(x, ones({4}, DType::f64), b, 1e-5),
                       doctest::Contains("layernorm: dtypes differ: f32 (2, 4) and f64 (4,)"), Error);
  CHECK_THROWS_WITH_AS(layernorm_forward(x, g, b, 0.0), doctest::Contains("layernorm: eps must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(layernorm_forward(zeros({2, 4}, DType::i32), g, b, 1e-5),
                       doctest::Contains("layernorm: x must be f32 or f64, got i32"), Error);
  CHECK_THROWS_WITH_AS(layernorm_forward(zeros({2, 0}), zeros({0}), zeros({0}), 1e-5),
                       doctest::Contains("layernorm: x needs a non-empty last axis, got shape (2, 0)"), Error);
  LayerNormOutput f = layernorm_forward(x, g, b, 1e-5);
  CHECK_THROWS_WITH_AS(layernorm_backward(zeros({4, 2}), x, f.mean, f.rstd, g),
                       doctest::Contains("layernorm_backward: dy has shape (4, 2) but x has shape (2, 4)"), Error);
  CHECK_THROWS_WITH_AS(layernorm_backward(zeros({2, 4}), x, zeros({3, 1}), f.rstd, g),
                       doctest::Contains("layernorm_backward: mean and rstd need one value per row (2 rows), got 3 and 2"), Error);
  CHECK_THROWS_WITH_AS(layernorm_backward(zeros({2, 4}), x, f.mean, f.rstd, ones({5})),
                       doctest::Contains("layernorm_backward: gamma must have shape (4,) to match x (2, 4), got (5,)"), Error);
}

TEST_CASE("errors: gelu") {
  CHECK_THROWS_WITH_AS(gelu_forward(zeros({3}, DType::i32), GeluKind::tanh),
                       doctest::Contains("gelu: input must be f32 or f64, got i32 with shape (3,)"), Error);
  CHECK_THROWS_WITH_AS(gelu_backward(zeros({3}), zeros({4}), GeluKind::erf),
                       doctest::Contains("gelu_backward: x has shape (3,) but dy has shape (4,)"), Error);
  CHECK_THROWS_WITH_AS(gelu_backward(zeros({3}), zeros({3}, DType::f64), GeluKind::erf),
                       doctest::Contains("gelu_backward: dtypes differ: f32 (3,) and f64 (3,)"), Error);
}

TEST_CASE("errors: embedding ids out of range, wrong dtypes and shapes") {
  Tensor w = zeros({5, 3});
  CHECK_THROWS_WITH_AS(embedding_forward(w, from_vector(std::vector<int32_t>{1, 5}, {2})),
                       doctest::Contains("embedding: id 5 at flat position 1 is out of range for a vocabulary of 5"), Error);
  CHECK_THROWS_WITH_AS(embedding_forward(w, from_vector(std::vector<int32_t>{-1}, {1})),
                       doctest::Contains("embedding: id -1 at flat position 0 is out of range for a vocabulary of 5"), Error);
  CHECK_THROWS_WITH_AS(embedding_forward(w, zeros({2})), doctest::Contains("embedding: ids must be i32, got f32"), Error);
  CHECK_THROWS_WITH_AS(embedding_forward(zeros({15}), zeros({2}, DType::i32)),
                       doctest::Contains("embedding: weight must be (V, C), got shape (15,)"), Error);
  CHECK_THROWS_WITH_AS(embedding_forward(zeros({5, 3}, DType::i32), zeros({2}, DType::i32)),
                       doctest::Contains("embedding: weight must be f32 or f64, got i32"), Error);
  CHECK_THROWS_WITH_AS(embedding_backward(zeros({3, 4}), zeros({2}, DType::i32), 5),
                       doctest::Contains("embedding_backward: dout must be ids' shape plus C: ids (2,), dout (3, 4)"), Error);
  CHECK_THROWS_WITH_AS(embedding_backward(zeros({2}), zeros({2}, DType::i32), 5),
                       doctest::Contains("embedding_backward: dout must be ids' shape plus C: ids (2,), dout (2,)"), Error);
  CHECK_THROWS_WITH_AS(embedding_backward(zeros({1, 3}), from_vector(std::vector<int32_t>{4}, {1}), 4),
                       doctest::Contains("embedding_backward: id 4 at flat position 0 is out of range for a vocabulary of 4"),
                       Error);
}

TEST_CASE("errors: cross-entropy targets out of range and wrong shapes") {
  Tensor logits = zeros({3, 5});
  CHECK_THROWS_WITH_AS(cross_entropy_forward(logits, from_vector(std::vector<int32_t>{0, 7, 1}, {3})),
                       doctest::Contains("cross_entropy: target 7 at row 1 is out of range for 5 classes (ignore_index is -100)"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy_forward(logits, from_vector(std::vector<int32_t>{-1, 0, 1}, {3})),
                       doctest::Contains("cross_entropy: target -1 at row 0 is out of range for 5 classes"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy_forward(logits, from_vector(std::vector<int32_t>{0, -100, 1}, {3}), -1),
                       doctest::Contains("cross_entropy: target -100 at row 1 is out of range for 5 classes (ignore_index is -1)"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy_backward(logits, from_vector(std::vector<int32_t>{0, 5, 1}, {3}), 1.0),
                       doctest::Contains("cross_entropy_backward: target 5 at row 1 is out of range for 5 classes"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy_forward(zeros({2, 3, 4}), zeros({2}, DType::i32)),
                       doctest::Contains("cross_entropy: logits must be (N, V), got shape (2, 3, 4)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy_forward(logits, zeros({2}, DType::i32)),
                       doctest::Contains("cross_entropy: targets must be (N,) with N = 3 rows of logits, got shape (2,)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy_forward(logits, zeros({3, 1}, DType::i32)),
                       doctest::Contains("cross_entropy: targets must be (N,) with N = 3 rows of logits, got shape (3, 1)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy_forward(logits, zeros({3})), doctest::Contains("cross_entropy: targets must be i32, got f32"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy_backward(zeros({3, 5}, DType::i32), zeros({3}, DType::i32), 1.0),
                       doctest::Contains("cross_entropy_backward: logits must be f32 or f64, got i32"), Error);
}

TEST_CASE("errors: dropout p outside [0, 1); random tensors of an integer dtype") {
  Tensor x = ones({4});
  CHECK_THROWS_WITH_AS(dropout(x, 1.0, PhiloxState{}), doctest::Contains("dropout: p must be in [0, 1), got 1"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1, PhiloxState{}), doctest::Contains("dropout: p must be in [0, 1), got -0.1"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, PhiloxState{}), doctest::Contains("dropout: p must be in [0, 1), got 1.5"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, 0.5, PhiloxState{1, 0, 6}),
                       doctest::Contains("dropout: state.offset must be a multiple of 4 (a block boundary"), Error);
  CHECK_THROWS_WITH_AS(dropout(ones({4}, DType::i32), 0.5, PhiloxState{}),
                       doctest::Contains("dropout: input must be f32 or f64, got i32"), Error);
  Generator gen{1};
  CHECK_THROWS_WITH_AS(rand({3}, gen, DType::i32), doctest::Contains("rand: dtype must be f32 or f64, got i32"), Error);
  CHECK_THROWS_WITH_AS(randn({3}, gen, DType::i32), doctest::Contains("randn: dtype must be f32 or f64, got i32"), Error);
}

TEST_CASE("errors: slice, slice_backward, permute, transpose, concat") {
  Tensor x = zeros({3, 4});
  // slice: range and axis
  CHECK_THROWS_WITH_AS(slice(x, 1, 2, 5), doctest::Contains("slice: range [2, 5) is not inside axis 1 of size 4 (shape (3, 4))"),
                       Error);
  CHECK_THROWS_WITH_AS(slice(x, 0, 2, 1), doctest::Contains("slice: range [2, 1) is not inside axis 0 of size 3"), Error);
  CHECK_THROWS_WITH_AS(slice(x, -1, -1, 2), doctest::Contains("slice: range [-1, 2) is not inside axis 1 of size 4"), Error);
  CHECK_THROWS_WITH_AS(slice(x, 2, 0, 1), doctest::Contains("slice: axis 2 is out of range for a tensor of rank 2"), Error);
  CHECK_THROWS_WITH_AS(slice(x, -3, 0, 1), doctest::Contains("slice: axis -3 is out of range for a tensor of rank 2"), Error);
  // slice_backward: dy must fit
  CHECK_THROWS_WITH_AS(slice_backward(zeros({2, 3}), {2, 4}, 1, 2),
                       doctest::Contains("slice_backward: dy of shape (2, 3) at start 2 does not fit axis 1 of x's shape (2, 4)"),
                       Error);
  CHECK_THROWS_WITH_AS(slice_backward(zeros({3, 3}), {2, 4}, 1, 0),
                       doctest::Contains("slice_backward: dy of shape (3, 3) at start 0 does not fit axis 1"), Error);
  CHECK_THROWS_WITH_AS(slice_backward(zeros({3}), {2, 4}, 1, 0),
                       doctest::Contains("slice_backward: dy of shape (3,) at start 0 does not fit"), Error);
  CHECK_THROWS_WITH_AS(slice_backward(zeros({2, 3}), {2, 4}, 2, 0),
                       doctest::Contains("slice_backward: axis 2 is out of range for a tensor of rank 2"), Error);
  // permute / transpose
  CHECK_THROWS_WITH_AS(permute(x, {0, -2}), doctest::Contains("permute: axis 0 appears twice in (0, -2)"), Error);
  CHECK_THROWS_WITH_AS(permute(x, {1, 1}), doctest::Contains("permute: axis 1 appears twice in (1, 1)"), Error);
  CHECK_THROWS_WITH_AS(permute(x, {0}), doctest::Contains("permute: 1 axes given for a tensor of rank 2 (shape (3, 4))"), Error);
  CHECK_THROWS_WITH_AS(permute(x, {0, 2}), doctest::Contains("permute: axis 2 is out of range for a tensor of rank 2"), Error);
  CHECK_THROWS_WITH_AS(transpose(x, 0, 3), doctest::Contains("transpose: axis 3 is out of range for a tensor of rank 2"), Error);
  // concat
  CHECK_THROWS_WITH_AS(concat({zeros({2, 3}), zeros({3, 4})}, 1),
                       doctest::Contains("concat: tensor 1 has shape (3, 4) but tensor 0 has (2, 3); they may differ only along axis 1"),
                       Error);
  CHECK_THROWS_WITH_AS(concat({zeros({2, 3}), zeros({2, 3}), zeros({2, 4})}, 0),
                       doctest::Contains("concat: tensor 2 has shape (2, 4) but tensor 0 has (2, 3); they may differ only along axis 0"),
                       Error);
  CHECK_THROWS_WITH_AS(concat({zeros({2, 3}), zeros({2, 3}, DType::f64)}, 0),
                       doctest::Contains("concat: tensor 1 is f64 (2, 3) but tensor 0 is f32 (2, 3); expected the same rank and dtype"),
                       Error);
  CHECK_THROWS_WITH_AS(concat({zeros({2, 3}), zeros({6})}, 0),
                       doctest::Contains("concat: tensor 1 is f32 (6,) but tensor 0 is f32 (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(concat({zeros({2, 3}), zeros({2, 3})}, 2),
                       doctest::Contains("concat: axis 2 is out of range for a tensor of rank 2"), Error);
  CHECK_THROWS_WITH_AS(concat({}, 0), doctest::Contains("concat: needs at least one tensor"), Error);
}

}  // TEST_SUITE
