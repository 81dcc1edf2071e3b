// tensor/ops_optim.cpp — the in-place arithmetic of the optimizers: AdamW and SGD updates of
// one parameter, scaling (for gradient clipping) and the sum of squares (for its norm).
//
// What it is: loops over contiguous memory, OpenMP over elements. AdamW, scaling and the sum
// of squares also come in a multi-tensor form (a whole parameter list in one call, PyTorch's
// "foreach" idea): one parallel region over all the elements, split evenly between threads,
// instead of one region per parameter (none at all for the many small ones: biases, gains).
// What it is not: an optimizer. Walking the parameter list, keeping the state tensors and
// choosing which parameters decay is nn/optim.cpp. Nothing here records a graph.
//
// Precision: every element is read as double, updated in double and rounded once when stored.
// The loops are memory-bound (four tensors read, three written for AdamW), so the wider
// arithmetic is nearly free once it is vectorised, and an f64 parameter gets exactly the
// formula the tests write out.
//
// Speed ladders (each rung gives the rung before's bits; tests/nn/test_optim.cpp checks it):
//   AdamW, per element     1. plain: one element at a time. g++ does not vectorise it: the
//                             std::sqrt keeps a branch to set errno ("control flow in loop").
//                          2. AVX2: four elements per iteration in 256-bit doubles.
//   sum of squares         1. plain: each 4096-element chunk summed in order (the order the
//                             cuda kernel and any thread count share), so no vectorising
//                             within a chunk: one dependent add per element.
//                          2. AVX2: four chunks side by side, one per lane, each still in order.
// Measured on gpt1's 146 tensors (116.5 M elements, one thread, AMD EPYC): AdamW per
// parameter, rung 1: 1049 ms; all at once, rung 2: 282 ms (~12 GB/s: memory-bound now, one
// thread or two). Sum of squares: 188 ms -> 63 ms. docs/benchmarks.md has the rest.
// Reference: PyTorch's torch/optim/adamw.py and sgd.py (the single-tensor code paths).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace kiso {

// t must be a float tensor with param's dtype, device and shape (the state and gradient tensors
// of one parameter all look like the parameter).
static void check_like_param(const char* op, const Tensor& param, const Tensor& t, const char* what) {
  check_float(op, t, what);
  check(t.dtype() == param.dtype(), op, "{} is {} {} but param is {} {}; expected the same dtype", what,
        to_string(t.dtype()), shape_str(t.shape()), to_string(param.dtype()), shape_str(param.shape()));
  check(t.device() == param.device(), op, "{} is on {} but param is on {}; expected one device", what,
        to_string(t.device()), to_string(param.device()));
  check_same_shape(op, param, t, "param", what);
}

// Runs f(k, begin, end) over the elements of spans 0..K-1 (sizes[k] elements each) laid end to
// end, split into one contiguous, equal share per thread of one parallel region: a thread's
// share may cover many small spans or part of a big one. Serial when the total is small.
template <class F> static void for_each_share(const std::vector<int64_t>& sizes, F f) {
  std::vector<int64_t> start(sizes.size() + 1, 0);  // start[k]: where span k begins in the whole
  for (size_t k = 0; k < sizes.size(); ++k) start[k + 1] = start[k] + sizes[k];
  const int64_t total = start.back();
#pragma omp parallel if (total > kParallelGrain)
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    const int64_t lo = total * t / threads, hi = total * (t + 1) / threads;  // this thread's share
    size_t k = size_t(std::upper_bound(start.begin(), start.end(), lo) - start.begin()) - 1;
    for (; k < sizes.size() && start[k] < hi; ++k) {
      int64_t begin = std::max(lo, start[k]) - start[k], end = std::min(hi, start[k + 1]) - start[k];
      if (begin < end) f(k, begin, end);
    }
  }
}

// ---- AdamW ----
// With g the gradient, t = h.step (1-based), and the state m, v (zeros before the first step):
//   p ← p − lr·wd·p                      decoupled weight decay: shrinks p, never enters m or v
//   m ← β1·m + (1 − β1)·g                running mean of the gradient
//   v ← β2·v + (1 − β2)·g²               running mean of its square
//   m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)   bias corrections: m and v start at 0, so early
//                                        on they underestimate; dividing by 1 − β^t undoes it
//   p ← p − lr·m̂ / (√v̂ + eps)
// The last line is computed as PyTorch does, p ← p − (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + eps),
// which is the same expression with the corrections folded into two scalars. The decay uses p
// from before the Adam step (PyTorch's order). Nothing is saved: m and v are the state.
static void check_adamw(const char* op, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                        const AdamWHyper& h) {
  check_float(op, param, "param");
  check_like_param(op, param, grad, "grad");
  check_like_param(op, param, m, "m");
  check_like_param(op, param, v, "v");
  check(h.step >= 1, op, "step is 1-based (the number of updates including this one), got {}", h.step);
  check(h.lr >= 0 && h.eps >= 0 && h.weight_decay >= 0, op,
        "lr, eps and weight_decay must be >= 0, got lr={} eps={} weight_decay={}", h.lr, h.eps, h.weight_decay);
  check(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1, op,
        "betas must lie in [0, 1), got beta1={} beta2={}", h.beta1, h.beta2);
}

// The scalars, in double: 1 − β^t is far from 0 only after a few steps (β2 = 0.999 gives 1e-3
// at t = 1), so it must not be rounded to f32 first. The cuda kernel takes the same struct.
static cuda::AdamWScalars adamw_scalars(const AdamWHyper& h) {
  const double bias_correction1 = 1.0 - std::pow(h.beta1, double(h.step));
  const double bias_correction2 = 1.0 - std::pow(h.beta2, double(h.step));
  return {.decay = 1.0 - h.lr * h.weight_decay,  // p ← decay·p
          .beta1 = h.beta1,
          .beta2 = h.beta2,
          .eps = h.eps,
          .step_size = h.lr / bias_correction1,
          .bias_correction2_sqrt = std::sqrt(bias_correction2)};
}

// Rung 1, plain: elements [0, n) of one parameter, one at a time. g++ (-ffp-contract=fast, its
// default) fuses the two moment lines into one fma each (β·m + the other product); the std::sqrt
// keeps a branch (errno) between p = decay·p and the last line, so those are not fused: p is
// rounded before the subtraction. The cuda kernel has the same lines, and the simulator, built
// by the same g++, gives the same bits.
template <class T>
static void adamw_plain(T* pp, const T* pg, T* pm, T* pv, int64_t n, const cuda::AdamWScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    double g = pg[i];
    double p = s.decay * double(pp[i]);                               // decoupled weight decay
    double m_i = s.beta1 * double(pm[i]) + (1.0 - s.beta1) * g;       // first moment
    double v_i = s.beta2 * double(pv[i]) + (1.0 - s.beta2) * g * g;   // second moment
    double denom = std::sqrt(v_i) / s.bias_correction2_sqrt + s.eps;  // √v̂ + eps
    pp[i] = T(p - s.step_size * m_i / denom);                         // p − lr·m̂ / (√v̂ + eps)
    pm[i] = T(m_i);
    pv[i] = T(v_i);
  }
}

#if defined(__AVX2__)
// Four elements of T as four doubles, and back (rounded to nearest, like T(double)).
static __m256d load4(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
static __m256d load4(const double* p) { return _mm256_loadu_pd(p); }
static void store4(float* p, __m256d x) { _mm_storeu_ps(p, _mm256_cvtpd_ps(x)); }
static void store4(double* p, __m256d x) { _mm256_storeu_pd(p, x); }

// Rung 2, AVX2: the plain rung's operations on four elements at a time, with its roundings
// spelled out: the two fmas g++ forms there are written as fmas here, and an empty asm keeps
// decay·p a rounded product (with no branch in between, g++ would fuse it into the
// subtraction). The leftover n % 4 elements go to the plain rung.
template <class T>
static void adamw_avx2(T* pp, const T* pg, T* pm, T* pv, int64_t n, const cuda::AdamWScalars& s) {
  const __m256d decay = _mm256_set1_pd(s.decay), beta1 = _mm256_set1_pd(s.beta1), beta2 = _mm256_set1_pd(s.beta2);
  const __m256d one_minus_beta1 = _mm256_set1_pd(1.0 - s.beta1), one_minus_beta2 = _mm256_set1_pd(1.0 - s.beta2);
  const __m256d eps = _mm256_set1_pd(s.eps), step_size = _mm256_set1_pd(s.step_size);
  const __m256d bias_correction2_sqrt = _mm256_set1_pd(s.bias_correction2_sqrt);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d g = load4(pg + i);
    __m256d p = _mm256_mul_pd(decay, load4(pp + i));
    __asm__("" : "+x"(p));  // p stays a rounded product: not fused into the subtraction below
    __m256d m_i = _mm256_fmadd_pd(beta1, load4(pm + i), _mm256_mul_pd(one_minus_beta1, g));
    __m256d v_i = _mm256_fmadd_pd(beta2, load4(pv + i), _mm256_mul_pd(_mm256_mul_pd(one_minus_beta2, g), g));
    __m256d denom = _mm256_add_pd(_mm256_div_pd(_mm256_sqrt_pd(v_i), bias_correction2_sqrt), eps);
    store4(pp + i, _mm256_sub_pd(p, _mm256_div_pd(_mm256_mul_pd(step_size, m_i), denom)));
    store4(pm + i, m_i);
    store4(pv + i, v_i);
  }
  adamw_plain(pp + i, pg + i, pm + i, pv + i, n - i, s);
}
#endif

// The fastest rung this build has.
template <class T>
static void adamw_elements(T* pp, const T* pg, T* pm, T* pv, int64_t n, const cuda::AdamWScalars& s) {
#if defined(__AVX2__)
  adamw_avx2(pp, pg, pm, pv, n, s);
#else
  adamw_plain(pp, pg, pm, pv, n, s);
#endif
}

// One parameter's part of a cpu AdamW pass: raw pointers, taken before the parallel region.
struct AdamWSpan {
  void* param;
  const void* grad;
  void* m;
  void* v;
  int64_t n;
  DType dtype;
  cuda::AdamWScalars s;
};

static AdamWSpan adamw_span(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h) {
  return {param.raw_data(), grad.raw_data(), m.raw_data(), v.raw_data(), param.numel(), param.dtype(), adamw_scalars(h)};
}

// Every cpu parameter in one parallel region, each thread an equal share of all the elements.
static void adamw_cpu(const std::vector<AdamWSpan>& spans) {
  std::vector<int64_t> sizes;
  for (const AdamWSpan& a : spans) sizes.push_back(a.n);
  for_each_share(sizes, [&](size_t k, int64_t begin, int64_t end) {
    const AdamWSpan& a = spans[k];
    auto run = [&]<class T>(T) {
      adamw_elements(static_cast<T*>(a.param) + begin, static_cast<const T*>(a.grad) + begin,
                     static_cast<T*>(a.m) + begin, static_cast<T*>(a.v) + begin, end - begin, a.s);
    };
    if (a.dtype == DType::f64) run(double{});
    else run(float{});
  });
}

void adamw_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h) {
  OpScope scope("adamw_update", param, grad, m, v, param, m, v);  // read 4, write 3
  check_adamw("adamw_update", param, grad, m, v, h);
  if (param.is_cuda()) {  // the plain rung, one thread per element (cuda/kernels/optim.cu)
    launch_cuda("adamw_update", param, [&]<cuda::Target D, class T> {
      cuda::adamw<D>(param.cuda_data<T>(), grad.cuda_data<T>(), m.cuda_data<T>(), v.cuda_data<T>(), param.numel(),
                     adamw_scalars(h));
    });
    return;
  }
  adamw_cpu({adamw_span(param, grad, m, v, h)});
}

void adamw_update(std::vector<AdamWSlot>& slots) {
  OpScope scope("adamw_update");
  for (const AdamWSlot& a : slots) scope.add_bytes(7.0 * double(a.param.numel()) * double(dtype_size(a.param.dtype())));
  for (const AdamWSlot& a : slots) check_adamw("adamw_update", a.param, a.grad, a.m, a.v, a.h);  // all, before any change
  std::vector<AdamWSpan> cpu;
  for (AdamWSlot& a : slots) {
    if (a.param.is_cuda()) adamw_update(a.param, a.grad, a.m, a.v, a.h);  // one kernel per parameter
    else cpu.push_back(adamw_span(a.param, a.grad, a.m, a.v, a.h));
  }
  adamw_cpu(cpu);
}

// ---- SGD ----
// PyTorch's SGD without dampening or Nesterov:
//   g ← g + wd·p                         L2 weight decay, added to the gradient (coupled: it
//                                        then goes through the momentum, unlike AdamW's)
//   buf ← momentum·buf + g               buf = g at the first step (momentum_buffer undefined)
//   p ← p − lr·buf
// and with momentum == 0 simply p ← p − lr·g. The gradient tensor itself is not changed.
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, double momentum,
                double weight_decay) {
  OpScope scope("sgd_update", param, grad, momentum_buffer, param, momentum_buffer);
  const char* op = "sgd_update";
  check_float(op, param, "param");
  check_like_param(op, param, grad, "grad");
  check(lr >= 0 && momentum >= 0 && weight_decay >= 0, op,
        "lr, momentum and weight_decay must be >= 0, got lr={} momentum={} weight_decay={}", lr, momentum,
        weight_decay);
  const bool use_momentum = momentum != 0;
  bool first = false;
  if (use_momentum) {
    first = !momentum_buffer.defined();
    if (first) momentum_buffer = Tensor(param.shape(), param.dtype(), param.device());  // filled with g below
    else check_like_param(op, param, momentum_buffer, "momentum_buffer");
  }
  if (param.is_cuda()) {  // the loop below, one thread per element (cuda/kernels/optim.cu)
    launch_cuda(op, param, [&]<cuda::Target D, class T> {
      cuda::sgd<D>(param.cuda_data<T>(), grad.cuda_data<T>(), use_momentum ? momentum_buffer.cuda_data<T>() : nullptr,
                   param.numel(), lr, momentum, weight_decay, first);
    });
    return;
  }

  with_float(param, [&]<class T>(T) {
    T* pp = param.data<T>();
    const T* pg = grad.data<T>();
    T* pb = use_momentum ? momentum_buffer.data<T>() : nullptr;
    int64_t n = param.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      double p = pp[i];
      double g = double(pg[i]) + weight_decay * p;  // g + wd·p
      if (use_momentum) {
        double b = first ? g : momentum * double(pb[i]) + g;
        pb[i] = T(b);
        g = b;
      }
      pp[i] = T(p - lr * g);
    }
  });
}

// ---- helpers of gradient clipping ----

// x ← s·x, each element in double and rounded once (g++ vectorises this loop by itself).
template <class T> static void scale_elements(T* px, int64_t n, double s) {
  for (int64_t i = 0; i < n; ++i) px[i] = T(s * double(px[i]));
}

void scale_inplace(Tensor& x, double s) {
  std::vector<Tensor> one{x};  // shares x's storage
  scale_inplace(one, s);
}

void scale_inplace(std::vector<Tensor>& xs, double s) {
  OpScope scope("scale_inplace");
  for (const Tensor& x : xs) scope.add_bytes(2.0 * double(x.numel()) * double(dtype_size(x.dtype())));
  for (const Tensor& x : xs) check_float("scale_inplace", x);
  std::vector<Tensor*> cpu;
  for (Tensor& x : xs) {
    if (!x.is_cuda()) {
      cpu.push_back(&x);
      continue;
    }
    launch_cuda("scale_inplace", x, [&]<cuda::Target D, class T> {  // x · s in double, rounded once
      cuda::unary<D>(cuda::UnaryOp::mul_scalar, x.cuda_data<T>(), x.cuda_data<T>(), x.numel(), s);
    });
  }
  std::vector<int64_t> sizes;
  for (Tensor* x : cpu) sizes.push_back(x->numel());
  for_each_share(sizes, [&](size_t k, int64_t begin, int64_t end) {
    void* p = cpu[k]->raw_data();
    if (cpu[k]->dtype() == DType::f64) scale_elements(static_cast<double*>(p) + begin, end - begin, s);
    else scale_elements(static_cast<float*>(p) + begin, end - begin, s);
  });
}

// Σ x² over fixed chunks of kDeterministicChunk = 4096 elements (deterministic_sum's, and the
// cuda kernel's), each summed in order in double; the chunk sums are added in order per tensor,
// and the tensor sums in list order. Which thread takes a chunk never changes what is added to
// what, so the result is bit-identical for any thread count; on cuda a thread sums each chunk
// and the host adds the chunk sums in order, the same additions.
static_assert(cuda::kSumChunk == kDeterministicChunk, "the cuda chunks must be deterministic_sum's");

// A chunk of one cpu tensor: up to 4096 elements.
struct SquaresChunk {
  const void* p;
  int64_t n;
  DType dtype;
};

// Rung 1, plain: one chunk, in order. (A float squared in double is exact, so whether the
// compiler fuses the multiply into the add does not matter for f32.)
template <class T> static double chunk_squares(const T* p, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(p[i]) * double(p[i]);
  return s;
}

#if defined(__AVX2__)
// Rung 2, AVX2 (f32 chunks of full length): four chunks at once, lane k summing chunk k in
// order, so each lane's additions are rung 1's. Each iteration loads four floats of each chunk
// (rows), transposes the 4 x 4 block so that register c_j holds element j of every chunk, and
// adds the squares in element order: a dependent add per four elements instead of per one.
static void chunk_squares4(const float* const* p, double* out) {
  __m256d s = _mm256_setzero_pd();
  for (int64_t j = 0; j < kDeterministicChunk; j += 4) {
    __m256d r0 = load4(p[0] + j), r1 = load4(p[1] + j), r2 = load4(p[2] + j), r3 = load4(p[3] + j);
    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);  // (r0[0] r1[0] r0[2] r1[2]), ...
    __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    __m256d c0 = _mm256_permute2f128_pd(t0, t2, 0x20), c1 = _mm256_permute2f128_pd(t1, t3, 0x20);
    __m256d c2 = _mm256_permute2f128_pd(t0, t2, 0x31), c3 = _mm256_permute2f128_pd(t1, t3, 0x31);
    s = _mm256_add_pd(s, _mm256_mul_pd(c0, c0));  // element j of each chunk
    s = _mm256_add_pd(s, _mm256_mul_pd(c1, c1));
    s = _mm256_add_pd(s, _mm256_mul_pd(c2, c2));
    s = _mm256_add_pd(s, _mm256_mul_pd(c3, c3));
  }
  _mm256_storeu_pd(out, s);
}
#endif

static double chunk_squares(const SquaresChunk& c) {
  if (c.dtype == DType::f64) return chunk_squares(static_cast<const double*>(c.p), c.n);
  return chunk_squares(static_cast<const float*>(c.p), c.n);
}

double sum_of_squares(const Tensor& x) { return sum_of_squares(std::vector<Tensor>{x}); }

double sum_of_squares(const std::vector<Tensor>& xs) {
  OpScope scope("sum_of_squares");
  for (const Tensor& x : xs) scope.add_bytes(double(x.numel()) * double(dtype_size(x.dtype())));
  for (const Tensor& x : xs) check_float("sum_of_squares", x);
  // pass 1: every cpu chunk of every tensor, in parallel, into partial[]
  std::vector<SquaresChunk> chunks;
  std::vector<size_t> first_chunk(xs.size() + 1, 0);  // tensor t owns chunks first_chunk[t] ..
  for (size_t t = 0; t < xs.size(); ++t) {
    first_chunk[t] = chunks.size();
    if (xs[t].is_cuda()) continue;
    const char* p = static_cast<const char*>(xs[t].raw_data());
    size_t bytes = dtype_size(xs[t].dtype());
    for (int64_t i = 0; i < xs[t].numel(); i += kDeterministicChunk)
      chunks.push_back({p + size_t(i) * bytes, std::min(kDeterministicChunk, xs[t].numel() - i), xs[t].dtype()});
  }
  first_chunk[xs.size()] = chunks.size();
  std::vector<double> partial(chunks.size());
  const int64_t groups = (int64_t(chunks.size()) + 3) / 4;  // four chunks per group
#pragma omp parallel for schedule(static) if (int64_t(chunks.size()) * kDeterministicChunk > kParallelGrain)
  for (int64_t q = 0; q < groups; ++q) {
    size_t c = size_t(4 * q), count = std::min<size_t>(4, chunks.size() - c);
#if defined(__AVX2__)
    bool full_f32 = count == 4;
    for (size_t k = 0; k < count; ++k)
      full_f32 = full_f32 && chunks[c + k].dtype == DType::f32 && chunks[c + k].n == kDeterministicChunk;
    if (full_f32) {
      const float* p[4];
      for (size_t k = 0; k < 4; ++k) p[k] = static_cast<const float*>(chunks[c + k].p);
      chunk_squares4(p, &partial[c]);
      continue;
    }
#endif
    for (size_t k = 0; k < count; ++k) partial[c + k] = chunk_squares(chunks[c + k]);
  }
  // pass 2: in order, chunk sums into tensor sums and those into the total
  double total = 0;
  for (size_t t = 0; t < xs.size(); ++t) {
    double sum = 0;
    if (xs[t].is_cuda()) {
      const Tensor& x = xs[t];
      int64_t n_chunks = (x.numel() + cuda::kSumChunk - 1) / cuda::kSumChunk;
      Tensor cuda_partial({n_chunks}, DType::f64, Device::cuda);
      launch_cuda("sum_of_squares", x, [&]<cuda::Target D, class T> {
        cuda::sum_of_squares_chunks<D>(x.cuda_data<T>(), cuda_partial.cuda_data<double>(), x.numel());
      });
      for (double s : cuda_partial.to_vector<double>()) sum += s;
    } else {
      for (size_t c = first_chunk[t]; c < first_chunk[t + 1]; ++c) sum += partial[c];
    }
    total += sum;
  }
  return total;
}

}  // namespace kiso
