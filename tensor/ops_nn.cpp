// tensor/ops_nn.cpp — the fused kernels a transformer spends its time in: softmax (with the
// causal mask), layernorm, the post-LN residual sum (dropout + add + layernorm in one pass),
// GELU, embedding gather/scatter and cross-entropy from logits,
// forward and backward side by side. Each works row by row (one row = the last axis), rows
// split over OpenMP threads. autograd/functions.cpp states the derivatives these implement;
// autograd/composite.cpp rebuilds each from primitives as the test oracle.
//
// A row is read through an Eigen array map (`row(p, n)`), so `(x - m).exp()` or `.sum()` is
// one vectorised pass: Eigen evaluates exp and tanh for float in SIMD registers and sums with
// several accumulators. Measured with `make bench` on (4096, 768), 1 thread, GELU, softmax and
// layernorm run several times faster this way than as scalar std::exp / std::tanh loops
// (docs/benchmarks.md has the figures). Every op here also runs on Device::cuda
// (cuda/kernels/softmax.cu, layernorm.cu, residual_layernorm.cu, gelu.cu, embedding.cu,
// cross_entropy.cu).
#include <algorithm>
#include <bit>
#include <cmath>
#include <type_traits>
#include <numbers>

#include "tensor/dispatch.h"
#include "tensor/eigen.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiso {

// n numbers at p as an Eigen column array (no copy).
template <class T> using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> static Row<T> row(T* p, int64_t n) { return Row<T>(p, n); }
template <class T> static ConstRow<T> row(const T* p, int64_t n) { return ConstRow<T>(p, n); }

// ---------------------------------------------------------------------------------------------
// softmax over the last axis, optionally causal
// forward:  y_i = exp(x_i - m) / sum_j exp(x_j - m),  m = max over the visible x_j
// backward: dx_i = y_i (dy_i - sum_j y_j dy_j)
// ---------------------------------------------------------------------------------------------

Tensor softmax_forward(const Tensor& x, bool causal) {
  OpScope scope("softmax_forward", x);
  check_float("softmax", x);
  check(x.dim() >= 1 && x.size(-1) > 0, "softmax", "expected a non-empty last axis, got shape {}", shape_str(x.shape()));
  int64_t Tk = x.size(-1);
  // Tq is read only after the rank check, so a 1-d input gets this op's message, not size()'s.
  int64_t Tq = 1;
  if (causal) {
    check(x.dim() >= 2 && x.size(-2) <= Tk, "softmax",
          "causal mode needs scores (..., Tq, Tk) with Tq <= Tk, got shape {}", shape_str(x.shape()));
    Tq = x.size(-2);
  }
  int64_t rows = x.numel() / Tk;
  if (x.is_cuda()) {
    check_cuda_rows("softmax", rows);
    Tensor y(x.shape(), x.dtype(), Device::cuda);
    launch_cuda("softmax", x, [&]<cuda::Target D, class T> {
      cuda::softmax_forward<D>(x.cuda_data<T>(), y.cuda_data<T>(), rows, Tk, Tq, causal);
    });
    return y;
  }
  return with_float(x, [&]<class T>(T) {
    Tensor y(x.shape(), x.dtype());
    const T* px = x.data<T>();
    T* py = y.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      // query i of its (Tq, Tk) block sees keys 0 .. i + (Tk - Tq); the rest are future tokens
      int64_t visible = causal ? (r % Tq) + (Tk - Tq) + 1 : Tk;
      auto x_r = row(px + r * Tk, visible);  // (visible,)
      auto y_r = row(py + r * Tk, visible);  // (visible,)
      // pass 1: the max, subtracted so that exp never overflows (softmax is shift-invariant)
      T m = x_r.maxCoeff();
      // pass 2: exponentials, then their sum
      y_r = (x_r - m).exp();
      T s = y_r.sum();
      // pass 3: normalise; masked positions get exactly 0
      y_r *= T(1) / s;
      std::fill(py + r * Tk + visible, py + (r + 1) * Tk, T(0));
    }
    return y;
  });
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  OpScope scope("softmax_backward", y, dy);
  check_float_pair("softmax_backward", y, dy);
  check_same_shape("softmax_backward", y, dy, "y", "dy");
  int64_t cols = y.dim() == 0 ? 1 : y.size(-1);
  int64_t rows = cols == 0 ? 0 : y.numel() / cols;
  if (y.is_cuda()) {
    check_cuda_rows("softmax_backward", rows);
    Tensor dx(y.shape(), y.dtype(), Device::cuda);
    launch_cuda("softmax_backward", y, [&]<cuda::Target D, class T> {
      cuda::softmax_backward<D>(y.cuda_data<T>(), dy.cuda_data<T>(), dx.cuda_data<T>(), rows, cols);
    });
    return dx;
  }
  return with_float(y, [&]<class T>(T) {
    Tensor dx(y.shape(), y.dtype());
    const T* py = y.data<T>();
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for if (y.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      auto y_r = row(py + r * cols, cols);
      auto dy_r = row(pdy + r * cols, cols);
      T dot = (y_r * dy_r).sum();  // sum_j y_j dy_j
      row(pdx + r * cols, cols) = y_r * (dy_r - dot);
    }
    return dx;
  });
}

// ---------------------------------------------------------------------------------------------
// layernorm over the last axis
// forward:  mean = 1/C sum x,  var = 1/C sum (x - mean)^2,  rstd = 1/sqrt(var + eps)
//           xhat = (x - mean) rstd,  y = xhat * gamma + beta
// backward: dbeta = sum_rows dy,  dgamma = sum_rows dy * xhat,  g = dy * gamma
//           dx = rstd * (g - mean_C(g) - xhat * mean_C(g * xhat))
// ---------------------------------------------------------------------------------------------

// x, gamma and beta all float, of one dtype, on one device.
static void check_layernorm_params(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  check_float(op, x, "x");
  check(x.dim() >= 1 && x.size(-1) > 0, op, "x needs a non-empty last axis, got shape {}", shape_str(x.shape()));
  Shape c{x.size(-1)};
  check(gamma.defined() && gamma.shape() == c, op, "gamma must have shape {} to match x {}, got {}", shape_str(c),
        shape_str(x.shape()), gamma.defined() ? shape_str(gamma.shape()) : "undefined");
  check(beta.defined() && beta.shape() == c, op, "beta must have shape {} to match x {}, got {}", shape_str(c),
        shape_str(x.shape()), beta.defined() ? shape_str(beta.shape()) : "undefined");
  check_float_pair(op, x, gamma);
  check_float_pair(op, x, beta);
}

// One row of the forward, x (C,) -> y (C,), mean, rstd. Also the fused residual_layernorm's
// (below), which is why it is a function: both give the same bits for the same s.
template <class T>
static void layernorm_row(const T* x, const T* g, const T* b, T* y, T& mean, T& rstd, int64_t C, T eps) {
  auto x_n = row(x, C);  // (C,)
  // pass 1: mean; pass 2: variance around it (two passes are more accurate than E[x²]-E[x]²)
  T m = x_n.mean();
  T v = (x_n - m).square().mean();
  T r = T(1) / std::sqrt(v + eps);
  // pass 3: normalise, scale and shift
  row(y, C) = (x_n - m) * r * row(g, C) + row(b, C);
  mean = m;
  rstd = r;
}

// One row of the backward's dx (C,), from dy (C,), x (C,) and the row's mean and rstd.
template <class T>
static void layernorm_dx_row(const T* dy, const T* x, T m, T r, const T* g, T* dx, int64_t C) {
  auto xhat = (row(x, C) - m) * r;   // (C,) an expression, evaluated where used
  auto gc = row(dy, C) * row(g, C);  // (C,) the gradient at xhat
  // pass 1: the two row means the formula needs; pass 2: dx
  T mean_g = gc.mean(), mean_g_xhat = (gc * xhat).mean();
  row(dx, C) = r * (gc - mean_g - xhat * mean_g_xhat);
}

// dgamma, dbeta (C,), zero on entry: a sum over the N rows, taken in row order so the result
// never depends on the thread count; the inner loop over C vectorises.
template <class T>
static void layernorm_param_grads(const T* dy, const T* x, const T* mean, const T* rstd, T* dgamma, T* dbeta,
                                  int64_t N, int64_t C) {
  auto dg = row(dgamma, C), db = row(dbeta, C);
  for (int64_t n = 0; n < N; ++n) {
    auto dy_n = row(dy + n * C, C);
    dg += dy_n * (row(x + n * C, C) - mean[n]) * rstd[n];
    db += dy_n;
  }
}

LayerNormOutput layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  OpScope scope("layernorm_forward", x, gamma, beta);
  check_layernorm_params("layernorm", x, gamma, beta);
  check(eps > 0, "layernorm", "eps must be positive, got {}", eps);
  int64_t C = x.size(-1), N = x.numel() / C;
  Shape stat_shape = x.shape();
  stat_shape.back() = 1;
  if (x.is_cuda()) {
    check_cuda_rows("layernorm", N);
    LayerNormOutput out{Tensor(x.shape(), x.dtype(), Device::cuda), Tensor(stat_shape, x.dtype(), Device::cuda),
                        Tensor(stat_shape, x.dtype(), Device::cuda)};
    launch_cuda("layernorm", x, [&]<cuda::Target D, class T> {
      cuda::layernorm_forward<D>(x.cuda_data<T>(), gamma.cuda_data<T>(), beta.cuda_data<T>(), out.y.cuda_data<T>(),
                                 out.mean.cuda_data<T>(), out.rstd.cuda_data<T>(), N, C, eps);
    });
    return out;
  }
  return with_float(x, [&]<class T>(T) {
    LayerNormOutput out{Tensor(x.shape(), x.dtype()), Tensor(stat_shape, x.dtype()), Tensor(stat_shape, x.dtype())};
    const T* px = x.data<T>();
    const T* g = gamma.data<T>();
    const T* b = beta.data<T>();
    T* py = out.y.data<T>();
    T* pmean = out.mean.data<T>();
    T* prstd = out.rstd.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t n = 0; n < N; ++n) layernorm_row(px + n * C, g, b, py + n * C, pmean[n], prstd[n], C, T(eps));
    return out;
  });
}

LayerNormGrads layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& gamma) {
  OpScope scope("layernorm_backward", dy, x, mean, rstd, gamma);
  check_layernorm_params("layernorm_backward", x, gamma, gamma);
  check_float_pair("layernorm_backward", x, dy);
  check_same_shape("layernorm_backward", dy, x, "dy", "x");
  int64_t C = x.size(-1), N = x.numel() / C;
  check_float_pair("layernorm_backward", x, mean);
  check_float_pair("layernorm_backward", x, rstd);
  check(mean.numel() == N && rstd.numel() == N, "layernorm_backward",
        "mean and rstd need one value per row ({} rows), got {} and {}", N, mean.numel(), rstd.numel());
  if (x.is_cuda()) {
    check_cuda_rows("layernorm_backward", N);
    LayerNormGrads grads{Tensor(x.shape(), x.dtype(), Device::cuda), Tensor({C}, x.dtype(), Device::cuda),
                         Tensor({C}, x.dtype(), Device::cuda)};
    launch_cuda("layernorm_backward", x, [&]<cuda::Target D, class T> {
      cuda::layernorm_backward<D>(dy.cuda_data<T>(), x.cuda_data<T>(), mean.cuda_data<T>(), rstd.cuda_data<T>(),
                                  gamma.cuda_data<T>(), grads.dx.cuda_data<T>(), grads.dgamma.cuda_data<T>(),
                                  grads.dbeta.cuda_data<T>(), N, C);
    });
    return grads;
  }
  return with_float(x, [&]<class T>(T) {
    LayerNormGrads grads{Tensor(x.shape(), x.dtype()), zeros({C}, x.dtype()), zeros({C}, x.dtype())};
    const T* px = x.data<T>();
    const T* pdy = dy.data<T>();
    const T* g = gamma.data<T>();
    const T* pmean = mean.data<T>();
    const T* prstd = rstd.data<T>();
    T* pdx = grads.dx.data<T>();
    // dx: rows are independent
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t n = 0; n < N; ++n) layernorm_dx_row(pdy + n * C, px + n * C, pmean[n], prstd[n], g, pdx + n * C, C);
    layernorm_param_grads(pdy, px, pmean, prstd, grads.dgamma.data<T>(), grads.dbeta.data<T>(), N, C);
    return grads;
  });
}

// ---------------------------------------------------------------------------------------------
// residual add + dropout + layernorm, fused: the post-LN block's "LN(x + dropout(branch))"
// forward:  s = x + z · keep / (1-p),  keep_i = (uniform(draw state.offset + i) >= p)
//           y = layernorm(s, gamma, beta)                 saves: s, mean, rstd (not the mask)
// backward: ds = layernorm's dx (from s, mean, rstd),  dx = ds,  dz = ds · keep / (1-p)
//           dgamma, dbeta as layernorm's
// One pass over each row instead of three ops (dropout, add, layernorm) and the two (N, C)
// tensors between them. The numbers are those of the three ops: the same draws as dropout()
// (tensor/ops_random.cpp), the same `T(z · scale)` or +0, the same add, then layernorm_row.
// Why s is saved and not recomputed from x and z: the backward then reads dy and s (two
// numbers an element) instead of dy, x and z (three) and draws no random numbers for s; the
// memory is the same as the unfused ops' minus the dropout output, since the autograd node
// keeps x and z alive either way.
// ---------------------------------------------------------------------------------------------

// out[c] = dropout of in[c] for the elements first .. first + C - 1 of the stream `state`: in·scale
// where kept, +0 where dropped, bit for bit what dropout() gives them. The draws are fetched
// 64 at a time from 64-aligned groups (as dropout's for_each_group fetches them), so a row
// shares at most its two end groups with its neighbours.
template <class T>
static void dropout_row(const T* in, T* out, int64_t first, int64_t C, double p, const PhiloxState& state) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const T scale = T(1.0 / (1.0 - p));
  const float pf = float(p);
  alignas(32) uint32_t draws[kPhiloxBatchDraws];
  for (int64_t g = first / kPhiloxBatchDraws; g * kPhiloxBatchDraws < first + C; ++g) {
    philox_blocks16(state.seed, state.stream, state.offset / 4 + uint64_t(g) * kPhiloxBatchBlocks, draws);
    int64_t i0 = std::max(first, g * kPhiloxBatchDraws), i1 = std::min(first + C, (g + 1) * kPhiloxBatchDraws);
    for (int64_t i = i0; i < i1; ++i) {
      Bits keep = Bits(0) - Bits(uniform_from_bits(draws[i - g * kPhiloxBatchDraws]) >= pf);  // all ones when kept
      out[i - first] = std::bit_cast<T>(std::bit_cast<Bits>(T(in[i - first] * scale)) & keep);
    }
  }
}

// x, z, gamma and beta float, of one dtype and device; z of x's shape.
static void check_residual_layernorm(const char* op, const Tensor& x, const Tensor& z, const Tensor& gamma,
                                     const Tensor& beta, double p, const PhiloxState& state) {
  check_layernorm_params(op, x, gamma, beta);
  check_float_pair(op, x, z);
  check_same_shape(op, x, z, "x", "z");
  check(p >= 0 && p < 1, op, "p must be in [0, 1), got {}", p);
  check(state.offset % 4 == 0, op, "state.offset must be a multiple of 4 (a block boundary, as Generator::take gives), "
        "got {}", state.offset);
  if (x.is_cuda()) {  // the backward's shared memory is the larger
    int64_t C = x.size(-1);
    size_t bytes = cuda::residual_layernorm_shared_bytes(C, dtype_size(x.dtype()), true);
    check(bytes <= cuda::kResidualLayerNormMaxShared, op,
          "C = {} needs {} bytes of shared memory a block on cuda; the kernel has {} (C <= {} for {})", C, bytes,
          cuda::kResidualLayerNormMaxShared,
          cuda::kResidualLayerNormMaxShared / cuda::residual_layernorm_shared_bytes(1, dtype_size(x.dtype()), true),
          to_string(x.dtype()));
  }
}

ResidualLayerNormOutput residual_layernorm_forward(const Tensor& x, const Tensor& z, const Tensor& gamma,
                                                   const Tensor& beta, double eps, double p, PhiloxState state) {
  OpScope scope("residual_layernorm_forward", x, z, gamma, beta);
  check_residual_layernorm("residual_layernorm", x, z, gamma, beta, p, state);
  check(eps > 0, "residual_layernorm", "eps must be positive, got {}", eps);
  int64_t C = x.size(-1), N = x.numel() / C;
  Shape stat_shape = x.shape();
  stat_shape.back() = 1;
  Device device = x.device();
  ResidualLayerNormOutput out{Tensor(x.shape(), x.dtype(), device), Tensor(x.shape(), x.dtype(), device),
                              Tensor(stat_shape, x.dtype(), device), Tensor(stat_shape, x.dtype(), device)};
  if (x.is_cuda()) {
    check_cuda_rows("residual_layernorm", N);
    launch_cuda("residual_layernorm", x, [&]<cuda::Target D, class T> {
      cuda::residual_layernorm_forward<D>(x.cuda_data<T>(), z.cuda_data<T>(), gamma.cuda_data<T>(),
                                          beta.cuda_data<T>(), out.y.cuda_data<T>(), out.s.cuda_data<T>(),
                                          out.mean.cuda_data<T>(), out.rstd.cuda_data<T>(), N, C, eps, p, state.seed,
                                          state.stream, state.offset);
    });
    return out;
  }
  with_float(x, [&]<class T>(T) {
    const T* px = x.data<T>();
    const T* pz = z.data<T>();
    const T* g = gamma.data<T>();
    const T* b = beta.data<T>();
    T* ps = out.s.data<T>();
    T* py = out.y.data<T>();
    T* pmean = out.mean.data<T>();
    T* prstd = out.rstd.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t n = 0; n < N; ++n) {
      T* s_n = ps + n * C;  // (C,)
      // pass 1: s = x + dropout(z), the dropped z written into s first, then x added
      if (p > 0) dropout_row(pz + n * C, s_n, n * C, C, p, state);
      else std::copy_n(pz + n * C, C, s_n);
      row(s_n, C) = row(px + n * C, C) + row(static_cast<const T*>(s_n), C);
      // passes 2-4: layernorm of s, while the row is still in cache
      layernorm_row(static_cast<const T*>(s_n), g, b, py + n * C, pmean[n], prstd[n], C, T(eps));
    }
    return 0;
  });
  return out;
}

ResidualLayerNormGrads residual_layernorm_backward(const Tensor& dy, const Tensor& s, const Tensor& mean,
                                                   const Tensor& rstd, const Tensor& gamma, double p,
                                                   PhiloxState state) {
  OpScope scope("residual_layernorm_backward", dy, s, mean, rstd, gamma);
  check_residual_layernorm("residual_layernorm_backward", s, dy, gamma, gamma, p, state);
  int64_t C = s.size(-1), N = s.numel() / C;
  check_float_pair("residual_layernorm_backward", s, mean);
  check_float_pair("residual_layernorm_backward", s, rstd);
  check(mean.numel() == N && rstd.numel() == N, "residual_layernorm_backward",
        "mean and rstd need one value per row ({} rows), got {} and {}", N, mean.numel(), rstd.numel());
  Device device = s.device();
  Tensor dx(s.shape(), s.dtype(), device);
  Tensor dz = p > 0 ? Tensor(s.shape(), s.dtype(), device) : dx;  // p == 0: dz is dx
  if (s.is_cuda()) {
    check_cuda_rows("residual_layernorm_backward", N);
    ResidualLayerNormGrads grads{dx, dz, Tensor({C}, s.dtype(), device), Tensor({C}, s.dtype(), device)};
    // partial column sums of dgamma and dbeta, one row of each per block of rows (in double)
    Tensor partial({2 * cuda::residual_layernorm_blocks(N), C}, DType::f64, device);
    launch_cuda("residual_layernorm_backward", s, [&]<cuda::Target D, class T> {
      cuda::residual_layernorm_backward<D>(dy.cuda_data<T>(), s.cuda_data<T>(), mean.cuda_data<T>(),
                                           rstd.cuda_data<T>(), gamma.cuda_data<T>(), dx.cuda_data<T>(),
                                           p > 0 ? dz.cuda_data<T>() : nullptr, partial.cuda_data<double>(),
                                           grads.dgamma.cuda_data<T>(), grads.dbeta.cuda_data<T>(), N, C, p,
                                           state.seed, state.stream, state.offset);
    });
    return grads;
  }
  return with_float(s, [&]<class T>(T) {
    ResidualLayerNormGrads grads{dx, dz, zeros({C}, s.dtype()), zeros({C}, s.dtype())};
    const T* pdy = dy.data<T>();
    const T* ps = s.data<T>();
    const T* g = gamma.data<T>();
    const T* pmean = mean.data<T>();
    const T* prstd = rstd.data<T>();
    T* pdx = dx.data<T>();
    T* pdz = dz.data<T>();
#pragma omp parallel for if (s.numel() > kParallelGrain)
    for (int64_t n = 0; n < N; ++n) {
      layernorm_dx_row(pdy + n * C, ps + n * C, pmean[n], prstd[n], g, pdx + n * C, C);  // ds = dx
      if (p > 0) dropout_row(static_cast<const T*>(pdx + n * C), pdz + n * C, n * C, C, p, state);  // dz
    }
    layernorm_param_grads(pdy, ps, pmean, prstd, grads.dgamma.data<T>(), grads.dbeta.data<T>(), N, C);
    return grads;
  });
}

// ---------------------------------------------------------------------------------------------
// GELU
// erf:  y = 0.5 x (1 + erf(x/√2));           dy/dx = Φ(x) + x φ(x),  φ(x) = exp(-x²/2)/√(2π)
// tanh: y = 0.5 x (1 + tanh(u)),  u = √(2/π)(x + 0.044715 x³)
//       dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh² u) √(2/π)(1 + 3·0.044715 x²)
// ---------------------------------------------------------------------------------------------

// The erf form, one element at a time (Eigen has no vectorised erf in its core module).
template <class T> static T gelu_erf(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(std::numbers::sqrt2 / 2))); }

template <class T> static T gelu_erf_derivative(T x) {
  T cdf = T(0.5) * (T(1) + std::erf(x * T(std::numbers::sqrt2 / 2)));
  T pdf = std::exp(T(-0.5) * x * x) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  return cdf + x * pdf;
}

// Runs f(begin, length) over [0, n) in chunks, chunks split over threads: each chunk is one
// vectorised Eigen expression over contiguous memory.
template <class F> static void for_chunks(int64_t n, F f) {
  constexpr int64_t chunk = 4096;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t begin = 0; begin < n; begin += chunk) f(begin, std::min(chunk, n - begin));
}

constexpr double kGeluCubic = 0.044715;
const double kSqrt2OverPi = std::sqrt(2.0 / std::numbers::pi);

Tensor gelu_forward(const Tensor& x, GeluKind kind) {
  OpScope scope("gelu_forward", x);
  check_float("gelu", x);
  if (x.is_cuda()) {
    Tensor y(x.shape(), x.dtype(), Device::cuda);
    launch_cuda("gelu", x, [&]<cuda::Target D, class T> {
      cuda::gelu_forward<D>(x.cuda_data<T>(), y.cuda_data<T>(), x.numel(), kind == GeluKind::erf);
    });
    return y;
  }
  return with_float(x, [&]<class T>(T) {
    Tensor y(x.shape(), x.dtype());
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T k = T(kSqrt2OverPi), a = T(kGeluCubic);
    for_chunks(x.numel(), [&](int64_t begin, int64_t len) {
      auto x_c = row(px + begin, len);
      if (kind == GeluKind::erf) row(py + begin, len) = x_c.unaryExpr([](T v) { return gelu_erf(v); });
      else row(py + begin, len) = T(0.5) * x_c * (T(1) + (k * (x_c + a * x_c.cube())).tanh());
    });
    return y;
  });
}

Tensor gelu_backward(const Tensor& x, const Tensor& dy, GeluKind kind) {
  OpScope scope("gelu_backward", x, dy);
  check_float_pair("gelu_backward", x, dy);
  check_same_shape("gelu_backward", x, dy, "x", "dy");
  if (x.is_cuda()) {
    Tensor dx(x.shape(), x.dtype(), Device::cuda);
    launch_cuda("gelu_backward", x, [&]<cuda::Target D, class T> {
      cuda::gelu_backward<D>(x.cuda_data<T>(), dy.cuda_data<T>(), dx.cuda_data<T>(), x.numel(), kind == GeluKind::erf);
    });
    return dx;
  }
  return with_float(x, [&]<class T>(T) {
    Tensor dx(x.shape(), x.dtype());
    const T* px = x.data<T>();
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const T k = T(kSqrt2OverPi), a = T(kGeluCubic);
    for_chunks(x.numel(), [&](int64_t begin, int64_t len) {
      auto x_c = row(px + begin, len);
      auto dy_c = row(pdy + begin, len);
      if (kind == GeluKind::erf) {
        row(pdx + begin, len) = dy_c * x_c.unaryExpr([](T v) { return gelu_erf_derivative(v); });
        return;
      }
      Eigen::Array<T, Eigen::Dynamic, 1> t = (k * (x_c + a * x_c.cube())).tanh();  // tanh u, used twice
      row(pdx + begin, len) =
          dy_c * (T(0.5) * (T(1) + t) + T(0.5) * x_c * (T(1) - t.square()) * k * (T(1) + T(3) * a * x_c.square()));
    });
    return dx;
  });
}

// ---------------------------------------------------------------------------------------------
// embedding
// forward:  out[i, :] = weight[ids[i], :]
// backward: dweight[v, :] += sum over i with ids[i] == v of dout[i, :]
// ---------------------------------------------------------------------------------------------

static void check_ids_in_range(const char* op, const Tensor& ids, int64_t V) {
  const int32_t* p = ids.data<int32_t>();
  for (int64_t i = 0; i < ids.numel(); ++i)
    check(p[i] >= 0 && p[i] < V, op, "id {} at flat position {} is out of range for a vocabulary of {}", p[i], i, V);
}

// On cuda the weight decides, and the ids may come from either device (dispatch.h): they are
// checked on the host and read by the kernel on the device; ids_used gets that device copy.
Tensor embedding_forward(const Tensor& weight, const Tensor& ids_in, Tensor* ids_used) {
  OpScope scope("embedding_forward", ids_in);
  check_float("embedding", weight, "weight");
  Tensor ids = weight.is_cuda() ? ids_on_host("embedding", ids_in, "ids") : ids_in;
  check_ids("embedding", ids, "ids");
  check(weight.dim() == 2, "embedding", "weight must be (V, C), got shape {}", shape_str(weight.shape()));
  int64_t V = weight.size(0), C = weight.size(1);
  check_ids_in_range("embedding", ids, V);
  Shape out_shape = ids.shape();
  out_shape.push_back(C);
  if (weight.is_cuda()) {  // one thread per output number (cuda/kernels/embedding.cu)
    Tensor out(out_shape, weight.dtype(), Device::cuda);  // (..., C)
    Tensor ids_cuda = ids_in.to(Device::cuda);
    launch_cuda("embedding", weight, [&]<cuda::Target D, class T> {
      cuda::embedding_forward<D>(weight.cuda_data<T>(), ids_cuda.cuda_data<int32_t>(), out.cuda_data<T>(), ids.numel(),
                                 C);
    });
    if (ids_used) *ids_used = ids_cuda;
    return out;
  }
  if (ids_used) *ids_used = ids;
  return with_float(weight, [&]<class T>(T) {
    Tensor out(out_shape, weight.dtype());  // (..., C)
    const T* pw = weight.data<T>();
    const int32_t* pid = ids.data<int32_t>();
    T* po = out.data<T>();
#pragma omp parallel for if (out.numel() > kParallelGrain)
    for (int64_t i = 0; i < ids.numel(); ++i) std::copy_n(pw + int64_t(pid[i]) * C, C, po + i * C);
    return out;
  });
}

// The cuda backward: the positions are grouped by id on the device (cuda/kernels/embedding.cu:
// count, scan, a stable scatter, then a block per row adding its positions in increasing
// order). No atomics on floats, so dweight is the same every run and equals the CPU's; nothing
// comes back to the host. ids_d: the ids on the device (the forward's upload).
static Tensor embedding_backward_cuda(const Tensor& dout, const Tensor& ids_d, int64_t vocab_size) {
  int64_t C = dout.size(-1), N = ids_d.numel();
  check(N < int64_t(1) << 31, "embedding_backward", "{} positions; the cuda kernel takes fewer than 2^31", N);
  check(vocab_size < int64_t(1) << 31, "embedding_backward", "a vocabulary of {}; the cuda kernel takes fewer than 2^31",
        vocab_size);
  Tensor dweight({vocab_size, C}, dout.dtype(), Device::cuda);  // (V, C): every row written by the kernel
  Tensor counts = zeros({vocab_size}, DType::i32, Device::cuda);  // (V,): counts, then each id's cursor
  Tensor starts({vocab_size + 1}, DType::i32, Device::cuda);      // (V + 1,)
  Tensor order({std::max<int64_t>(N, 1)}, DType::i32, Device::cuda);  // (N,): positions grouped by id
  launch_cuda("embedding_backward", dout, [&]<cuda::Target D, class T> {
    cuda::embedding_backward<D>(dout.cuda_data<T>(), ids_d.cuda_data<int32_t>(), counts.cuda_data<int32_t>(),
                                starts.cuda_data<int32_t>(), order.cuda_data<int32_t>(), dweight.cuda_data<T>(), N,
                                vocab_size, C);
  });
  return dweight;
}

Tensor embedding_backward(const Tensor& dout, const Tensor& ids_in, int64_t vocab_size) {
  OpScope scope("embedding_backward", dout, ids_in);
  const char* op = "embedding_backward";
  check_float(op, dout, "dout");
  check(ids_in.defined() && ids_in.dtype() == DType::i32, op, "ids must be i32, got {}",
        ids_in.defined() ? to_string(ids_in.dtype()) : "an undefined tensor");
  const Tensor& ids = ids_in;
  check(dout.dim() == ids.dim() + 1 && std::equal(ids.shape().begin(), ids.shape().end(), dout.shape().begin()), op,
        "dout must be ids' shape plus C: ids {}, dout {}", shape_str(ids.shape()), shape_str(dout.shape()));
  check(vocab_size > 0, op, "vocab_size must be positive, got {}", vocab_size);
  // Ids on the host are checked here; ids on the device are the forward's upload, checked by it
  // (reading them back would stall the step), and the kernels skip any outside [0, V).
  if (!ids.is_cuda()) check_ids_in_range(op, ids, vocab_size);
  if (dout.is_cuda()) return embedding_backward_cuda(dout, ids.to(Device::cuda), vocab_size);
  check_ids(op, ids, "ids");
  int64_t C = dout.size(-1);
  return with_float(dout, [&]<class T>(T) {
    Tensor dweight = zeros({vocab_size, C}, dout.dtype());  // (V, C)
    const T* pd = dout.data<T>();
    const int32_t* pid = ids.data<int32_t>();
    T* pw = dweight.data<T>();
    // Positions in order: the sum for a repeated id is always added in the same order. The
    // channels are split over threads, so no two threads ever write the same number.
#pragma omp parallel if (dout.numel() > kParallelGrain)
    {
#ifdef _OPENMP
      int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
#else
      int64_t threads = 1, t = 0;
#endif
      int64_t c0 = C * t / threads, c1 = C * (t + 1) / threads;
      for (int64_t i = 0; i < ids.numel(); ++i) {
        T* row = pw + int64_t(pid[i]) * C;
        const T* d = pd + i * C;
        for (int64_t c = c0; c < c1; ++c) row[c] += d[c];
      }
    }
    return dweight;
  });
}

// ---------------------------------------------------------------------------------------------
// cross-entropy from logits
// forward:  loss = 1/count sum_{n valid} (logsumexp(logits_n) - logits_n[t_n])
// backward: dlogits_n = dloss/count * (softmax(logits_n) - onehot(t_n)), 0 on ignored rows
// ---------------------------------------------------------------------------------------------

// targets must be a cpu copy (the caller makes one for cuda logits); returns the kept rows.
static int64_t check_cross_entropy(const char* op, const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_ids(op, targets, "targets");
  check(logits.dim() == 2, op, "logits must be (N, V), got shape {}", shape_str(logits.shape()));
  check(targets.dim() == 1 && targets.size(0) == logits.size(0), op,
        "targets must be (N,) with N = {} rows of logits, got shape {}", logits.size(0), shape_str(targets.shape()));
  int64_t V = logits.size(1), count = 0;
  const int32_t* t = targets.data<int32_t>();
  for (int64_t n = 0; n < targets.numel(); ++n) {
    if (t[n] == ignore_index) continue;
    check(t[n] >= 0 && t[n] < V, op, "target {} at row {} is out of range for {} classes (ignore_index is {})", t[n],
          n, V, ignore_index);
    ++count;
  }
  return count;
}

// log Σ_j exp(x_j) = m + log Σ_j exp(x_j - m) with m = max_j x_j, so nothing overflows. The
// two parts are returned separately: callers form (x_j - m) - log_s, whose terms are both
// small, instead of x_j - lse, which would lose digits to rounding when the logits are large
// (a float near 1000 carries only 4 decimals).
template <class T> struct LogSumExp {
  T m;
  T log_s;
};
template <class T> static LogSumExp<T> logsumexp(const T* x, int64_t V) {
  auto x_r = row(x, V);
  T m = x_r.maxCoeff();
  return {m, T(std::log(double((x_r - m).exp().sum())))};
}

// On cuda (cuda/kernels/cross_entropy.cu) the targets may come from either device: the host
// copy is checked and counted, the device copy read by the kernel.
Tensor cross_entropy_forward(const Tensor& logits, const Tensor& targets_in, int64_t ignore_index) {
  OpScope scope("cross_entropy_forward", logits, targets_in);
  check_float("cross_entropy", logits, "logits");
  Tensor targets = logits.is_cuda() ? ids_on_host("cross_entropy", targets_in, "targets") : targets_in;
  int64_t count = check_cross_entropy("cross_entropy", logits, targets, ignore_index);
  int64_t N = logits.size(0), V = logits.size(1);
  if (logits.is_cuda()) {
    Tensor row_loss({N}, DType::f64, Device::cuda), loss({}, logits.dtype(), Device::cuda);
    Tensor targets_cuda = targets_in.to(Device::cuda);
    launch_cuda("cross_entropy", logits, [&]<cuda::Target D, class T> {
      cuda::cross_entropy_forward<D>(logits.cuda_data<T>(), targets_cuda.cuda_data<int32_t>(),
                                     row_loss.cuda_data<double>(), loss.cuda_data<T>(), N, V, ignore_index, count);
    });
    return loss;
  }
  return with_float(logits, [&]<class T>(T) {
    const T* px = logits.data<T>();
    const int32_t* t = targets.data<int32_t>();
    std::vector<double> row_loss(size_t(N), 0.0);
#pragma omp parallel for if (logits.numel() > kParallelGrain)
    for (int64_t n = 0; n < N; ++n) {
      if (t[n] == ignore_index) continue;
      LogSumExp<T> lse = logsumexp(px + n * V, V);  // loss_n = log_s - (x_t - m)
      row_loss[size_t(n)] = double(lse.log_s) - double(px[n * V + t[n]] - lse.m);
    }
    double total = 0;
    for (double l : row_loss) total += l;  // in row order: deterministic
    return scalar(count ? total / double(count) : 0.0, logits.dtype());
  });
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, double dloss, int64_t ignore_index,
                              bool in_place) {
  Tensor dloss_tensor = scalar(dloss, logits.dtype());
  return cross_entropy_backward(logits, targets, logits.is_cuda() ? dloss_tensor.to(Device::cuda) : dloss_tensor,
                                ignore_index, in_place);
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets_in, const Tensor& dloss,
                              int64_t ignore_index, bool in_place) {
  OpScope scope("cross_entropy_backward", logits, targets_in);
  check_float("cross_entropy_backward", logits, "logits");
  check(dloss.numel() == 1 && dloss.dtype() == logits.dtype() && dloss.device() == logits.device(),
        "cross_entropy_backward", "dloss must be one {} number on the logits' device, got shape {} {} on {}",
        to_string(logits.dtype()), shape_str(dloss.shape()), to_string(dloss.dtype()), to_string(dloss.device()));
  Tensor targets = logits.is_cuda() ? ids_on_host("cross_entropy_backward", targets_in, "targets") : targets_in;
  int64_t count = check_cross_entropy("cross_entropy_backward", logits, targets, ignore_index);
  check(!in_place || logits.is_sole_owner(), "cross_entropy_backward",
        "in_place needs logits whose storage nothing else holds; another tensor shares it");
  int64_t N = logits.size(0), V = logits.size(1);
  // (N, V): a new buffer, or the logits' own, a row at a time read (its max and sum) then written
  Tensor dlogits = in_place ? logits : Tensor(logits.shape(), logits.dtype(), logits.device());
  if (logits.is_cuda()) {
    Tensor targets_cuda = targets_in.to(Device::cuda);
    launch_cuda("cross_entropy_backward", logits, [&]<cuda::Target D, class T> {
      cuda::cross_entropy_backward<D>(logits.cuda_data<T>(), targets_cuda.cuda_data<int32_t>(), dloss.cuda_data<T>(),
                                      dlogits.cuda_data<T>(), N, V, ignore_index, count);
    });
    return dlogits;
  }
  return with_float(logits, [&]<class T>(T) {
    T* pd = dlogits.data<T>();
    if (count == 0) {
      std::fill_n(pd, N * V, T(0));
      return dlogits;
    }
    const T* px = logits.data<T>();  // pd itself when in_place
    const int32_t* t = targets.data<int32_t>();
    double scale = dloss.item() / double(count);
#pragma omp parallel for if (logits.numel() > kParallelGrain)
    for (int64_t n = 0; n < N; ++n) {
      if (t[n] == ignore_index) {
        std::fill_n(pd + n * V, V, T(0));
        continue;
      }
      LogSumExp<T> lse = logsumexp(px + n * V, V);  // read before the row is written
      row(pd + n * V, V) = T(scale) * ((row(px + n * V, V) - lse.m) - lse.log_s).exp();  // dloss/count · softmax
      pd[n * V + t[n]] -= T(scale);
    }
    return dlogits;
  });
}

}  // namespace kiso
