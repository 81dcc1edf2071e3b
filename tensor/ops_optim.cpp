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
// Speed ladder (each rung gives the rung before's bits; tests/nn/test_optim.cpp checks it):
//   AdamW, per element     1. plain: one element at a time. g++ does not vectorise it: the
//                             std::sqrt keeps a branch to set errno ("control flow in loop").
//                          2. AVX2: four elements per iteration in 256-bit doubles.
// Measured on gpt1's 146 tensors (116.5 M elements, one thread, AMD EPYC): AdamW per
// parameter, rung 1: 1049 ms; all at once, rung 2: 282 ms (~12 GB/s: memory-bound now, one
// thread or two). docs/benchmarks.md has the rest.
// The sum of squares is a fixed tree shared with the cuda kernels (below, before
// sum_of_squares), so the gradient norm has the same bits on both devices; on cuda gradient
// clipping's factor stays in device memory and the AdamW kernel reads it there (clip_factor,
// adamw_update with a grad_scale): a step on the GPU reads nothing back.
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
// With `scale` (gradient clipping's factor, not 1) the gradient is read as T(scale · g): what
// scaling it in place first (scale_inplace) would have stored, so clipping inside the update
// gives the bits of clipping before it.
template <class T>
static void adamw_plain(T* pp, const T* pg, T* pm, T* pv, int64_t n, const cuda::AdamWScalars& s, double scale) {
  for (int64_t i = 0; i < n; ++i) {
    double g = scale == 1.0 ? double(pg[i]) : double(T(scale * double(pg[i])));
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
// T(x) for four doubles: rounded through float for f32 (the clipped gradient's rounding).
static __m256d round_as(float, __m256d x) { return _mm256_cvtps_pd(_mm256_cvtpd_ps(x)); }
static __m256d round_as(double, __m256d x) { return x; }

template <class T>
static void adamw_avx2(T* pp, const T* pg, T* pm, T* pv, int64_t n, const cuda::AdamWScalars& s, double scale) {
  const __m256d decay = _mm256_set1_pd(s.decay), beta1 = _mm256_set1_pd(s.beta1), beta2 = _mm256_set1_pd(s.beta2);
  const __m256d one_minus_beta1 = _mm256_set1_pd(1.0 - s.beta1), one_minus_beta2 = _mm256_set1_pd(1.0 - s.beta2);
  const __m256d eps = _mm256_set1_pd(s.eps), step_size = _mm256_set1_pd(s.step_size);
  const __m256d bias_correction2_sqrt = _mm256_set1_pd(s.bias_correction2_sqrt);
  const __m256d scale4 = _mm256_set1_pd(scale);
  const bool scaled = scale != 1.0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d g = load4(pg + i);
    if (scaled) g = round_as(T{}, _mm256_mul_pd(scale4, g));
    __m256d p = _mm256_mul_pd(decay, load4(pp + i));
    __asm__("" : "+x"(p));  // p stays a rounded product: not fused into the subtraction below
    __m256d m_i = _mm256_fmadd_pd(beta1, load4(pm + i), _mm256_mul_pd(one_minus_beta1, g));
    __m256d v_i = _mm256_fmadd_pd(beta2, load4(pv + i), _mm256_mul_pd(_mm256_mul_pd(one_minus_beta2, g), g));
    __m256d denom = _mm256_add_pd(_mm256_div_pd(_mm256_sqrt_pd(v_i), bias_correction2_sqrt), eps);
    store4(pp + i, _mm256_sub_pd(p, _mm256_div_pd(_mm256_mul_pd(step_size, m_i), denom)));
    store4(pm + i, m_i);
    store4(pv + i, v_i);
  }
  adamw_plain(pp + i, pg + i, pm + i, pv + i, n - i, s, scale);
}
#endif

// The fastest rung this build has.
template <class T>
static void adamw_elements(T* pp, const T* pg, T* pm, T* pv, int64_t n, const cuda::AdamWScalars& s, double scale) {
#if defined(__AVX2__)
  adamw_avx2(pp, pg, pm, pv, n, s, scale);
#else
  adamw_plain(pp, pg, pm, pv, n, s, scale);
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
static void adamw_cpu(const std::vector<AdamWSpan>& spans, double scale) {
  std::vector<int64_t> sizes;
  for (const AdamWSpan& a : spans) sizes.push_back(a.n);
  for_each_share(sizes, [&](size_t k, int64_t begin, int64_t end) {
    const AdamWSpan& a = spans[k];
    auto run = [&]<class T>(T) {
      adamw_elements(static_cast<T*>(a.param) + begin, static_cast<const T*>(a.grad) + begin,
                     static_cast<T*>(a.m) + begin, static_cast<T*>(a.v) + begin, end - begin, a.s, scale);
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
  adamw_cpu({adamw_span(param, grad, m, v, h)}, 1.0);
}

void adamw_update(std::vector<AdamWSlot>& slots) { adamw_update(slots, Tensor()); }

// Every cuda parameter in adamw_multi's few launches (one per 40 parameters), grouped by dtype.
static void adamw_cuda(std::vector<AdamWSlot*>& slots, const Tensor& grad_scale) {
  for (DType dtype : {DType::f32, DType::f64}) {
    std::vector<AdamWSlot*> of_dtype;
    for (AdamWSlot* a : slots)
      if (a->param.dtype() == dtype) of_dtype.push_back(a);
    if (of_dtype.empty()) continue;
    launch_cuda("adamw_update", of_dtype[0]->param, [&]<cuda::Target D, class T> {
      std::vector<cuda::AdamWTensor<T>> list;
      for (AdamWSlot* a : of_dtype)
        list.push_back({a->param.cuda_data<T>(), a->grad.cuda_data<T>(), a->m.cuda_data<T>(), a->v.cuda_data<T>(),
                        a->param.numel(), adamw_scalars(a->h)});
      cuda::adamw_multi<D>(list.data(), int64_t(list.size()),
                           grad_scale.defined() ? grad_scale.cuda_data<double>() : nullptr);
    });
  }
}

void adamw_update(std::vector<AdamWSlot>& slots, const Tensor& grad_scale) {
  OpScope scope("adamw_update");
  for (const AdamWSlot& a : slots) scope.add_bytes(7.0 * double(a.param.numel()) * double(dtype_size(a.param.dtype())));
  for (const AdamWSlot& a : slots) check_adamw("adamw_update", a.param, a.grad, a.m, a.v, a.h);  // all, before any change
  std::vector<AdamWSpan> cpu;
  std::vector<AdamWSlot*> on_cuda;
  for (AdamWSlot& a : slots) {
    if (a.param.is_cuda()) on_cuda.push_back(&a);
    else cpu.push_back(adamw_span(a.param, a.grad, a.m, a.v, a.h));
  }
  if (grad_scale.defined()) {
    const char* op = "adamw_update";
    check(grad_scale.dtype() == DType::f64 && grad_scale.numel() == 1, op,
          "grad_scale must be one f64 number (clip_factor's scale), got {} {}", to_string(grad_scale.dtype()),
          shape_str(grad_scale.shape()));
    check(cpu.empty() || on_cuda.empty(), op, "with a grad_scale every parameter must be on one device, got {} on the "
          "cpu and {} on cuda", cpu.size(), on_cuda.size());
    Device params = on_cuda.empty() ? Device::cpu : Device::cuda;
    check(slots.empty() || grad_scale.device() == params, op, "grad_scale is on {} but the parameters are on {}",
          to_string(grad_scale.device()), to_string(params));
  }
  if (!on_cuda.empty()) adamw_cuda(on_cuda, grad_scale);
  // on the cpu the factor is host memory already: read it here
  adamw_cpu(cpu, grad_scale.defined() && !cpu.empty() ? grad_scale.data<double>()[0] : 1.0);
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

// Σ x² as a fixed tree, the same on the cpu and on cuda (the kernels of cuda/kernels/optim.cu
// follow these lines), so gradient clipping's norm has the same bits on both devices and for any
// thread count:
//   1. each tensor in chunks of kSumChunk = 4096 elements; a chunk in 256 lanes, lane t adding
//      the squares of elements t, t + 256, t + 512, ... in order, each with one fma in double
//      (exact for f32: a float's square fits a double; for f64 one rounding per element, the
//      GPU's fma and the cpu's alike);
//   2. the 256 lanes pairwise: lane t += lane t + 128 for t < 128, then t + 64, ... (a block's
//      reduction tree on the GPU, block.h's block_reduce);
//   3. the chunk sums of all the tensors, in list order, as one array summed the same way:
//      lane t adds entries t, t + 256, ... in order (plain adds), then the pairwise tree.
// Why a tree and not one running sum: on the GPU a block then owns a chunk and its 256 threads
// read it coalesced, and the whole sum stays on the device (one block for step 3) instead of the
// chunk sums being copied back for the host to add. The cost: the grouping differs from
// deterministic_sum's (tensor/dispatch.h), which `sum` keeps.
constexpr int kLanes = 256;
static_assert(cuda::kSumChunk == 4096 && kLanes == 256, "the cuda kernels' chunk and block size");

// Step 2: the lanes pairwise, as block_reduce adds them.
static double lane_tree(double* lane) {
  for (int half = kLanes / 2; half > 0; half /= 2)
    for (int t = 0; t < half; ++t) lane[t] = lane[t] + lane[t + half];
  return lane[0];
}

// Steps 1 and 2 for one chunk of n <= 4096 elements. The lanes are independent, so the loop over
// t vectorises (four lanes a 256-bit fma) without changing any lane's order.
template <class T> static double chunk_squares(const T* p, int64_t n) {
  double lane[kLanes] = {};
  for (int64_t j = 0; j < n; j += kLanes) {
    int64_t m = std::min<int64_t>(kLanes, n - j);
    for (int64_t t = 0; t < m; ++t) lane[t] = std::fma(double(p[j + t]), double(p[j + t]), lane[t]);
  }
  return lane_tree(lane);
}

// Step 3: the tree sum of the chunk sums.
static double partials_total(const std::vector<double>& partial) {
  double lane[kLanes] = {};
  for (size_t j = 0; j < partial.size(); j += kLanes)
    for (size_t t = 0; t < size_t(kLanes) && j + t < partial.size(); ++t) lane[t] += partial[j + t];
  return lane_tree(lane);
}

// A chunk of one cpu tensor: up to 4096 elements.
struct SquaresChunk {
  const void* p;
  int64_t n;
  DType dtype;
};

static double chunk_squares(const SquaresChunk& c) {
  if (c.dtype == DType::f64) return chunk_squares(static_cast<const double*>(c.p), c.n);
  return chunk_squares(static_cast<const float*>(c.p), c.n);
}

// All of xs on one device (the sum's tree spans the list); none, or every one, on cuda.
static bool check_one_device(const char* op, const std::vector<Tensor>& xs) {
  for (const Tensor& x : xs) check_float(op, x);
  for (const Tensor& x : xs)
    check(x.device() == xs[0].device(), op, "every tensor must be on one device, got {} and {}",
          to_string(xs[0].device()), to_string(x.device()));
  return !xs.empty() && xs[0].is_cuda();
}

// The cpu's steps 1 to 3: chunk sums in parallel (a chunk is one thread's), then the total.
static double sum_of_squares_cpu(const std::vector<Tensor>& xs) {
  std::vector<SquaresChunk> chunks;
  for (const Tensor& x : xs) {
    const char* p = static_cast<const char*>(x.raw_data());
    size_t bytes = dtype_size(x.dtype());
    for (int64_t i = 0; i < x.numel(); i += cuda::kSumChunk)
      chunks.push_back({p + size_t(i) * bytes, std::min(cuda::kSumChunk, x.numel() - i), x.dtype()});
  }
  std::vector<double> partial(chunks.size());
  const int64_t n_chunks = int64_t(chunks.size());
#pragma omp parallel for schedule(static) if (n_chunks * cuda::kSumChunk > kParallelGrain)
  for (int64_t c = 0; c < n_chunks; ++c) partial[size_t(c)] = chunk_squares(chunks[size_t(c)]);
  return partials_total(partial);
}

// The cuda steps: the chunk sums (sum_of_squares_partials, a block per chunk, per dtype run in
// list order), then one block for the total or the norm and the clip factor, each one f64 in
// device memory (nullptr: not wanted). Nothing is read back.
static void sum_of_squares_cuda(const std::vector<Tensor>& xs, double* total, double max_norm, double* norm,
                                double* scale) {
  int64_t P = 0;
  for (const Tensor& x : xs) P += (x.numel() + cuda::kSumChunk - 1) / cuda::kSumChunk;
  Tensor partial({std::max<int64_t>(P, 1)}, DType::f64, Device::cuda);  // (P,)
  int64_t offset = 0;
  for (size_t first = 0; first < xs.size();) {  // runs of one dtype, in list order
    size_t end = first;
    while (end < xs.size() && xs[end].dtype() == xs[first].dtype()) ++end;
    launch_cuda("sum_of_squares", xs[first], [&]<cuda::Target D, class T> {
      std::vector<const T*> ptrs;
      std::vector<int64_t> ns;
      for (size_t k = first; k < end; ++k) ptrs.push_back(xs[k].cuda_data<T>()), ns.push_back(xs[k].numel());
      cuda::sum_of_squares_partials<D>(ptrs.data(), ns.data(), int64_t(ptrs.size()), partial.cuda_data<double>() + offset);
    });
    for (size_t k = first; k < end; ++k) offset += (xs[k].numel() + cuda::kSumChunk - 1) / cuda::kSumChunk;
    first = end;
  }
  cuda::with_target("sum_of_squares", [&]<cuda::Target D> {
    cuda::sum_of_squares_total<D>(partial.cuda_data<double>(), P, total, max_norm, norm, scale);
  });
}

double sum_of_squares(const Tensor& x) { return sum_of_squares(std::vector<Tensor>{x}); }

double sum_of_squares(const std::vector<Tensor>& xs) {
  OpScope scope("sum_of_squares");
  for (const Tensor& x : xs) scope.add_bytes(double(x.numel()) * double(dtype_size(x.dtype())));
  if (!check_one_device("sum_of_squares", xs)) return sum_of_squares_cpu(xs);
  Tensor total({1}, DType::f64, Device::cuda);
  sum_of_squares_cuda(xs, total.cuda_data<double>(), 0, nullptr, nullptr);
  return total.item();  // the one read back
}

// ---- gradient clipping's factor ----
// norm = √(Σ x²) (the tree above) and, as PyTorch's clip_grad_norm_, coef = max_norm / (norm +
// 1e-6); scale = coef when coef < 1 and the norm is finite, else 1 (nothing to clip, or an inf /
// NaN gradient left for the trainer to judge). On cuda both stay in device memory: the AdamW
// update reads the scale there, and the norm is read only when someone logs it.
ClipFactor clip_factor(const std::vector<Tensor>& xs, double max_norm) {
  OpScope scope("clip_factor");
  for (const Tensor& x : xs) scope.add_bytes(double(x.numel()) * double(dtype_size(x.dtype())));
  check(max_norm > 0 && std::isfinite(max_norm), "clip_factor", "max_norm must be a positive finite number, got {}",
        max_norm);
  if (check_one_device("clip_factor", xs)) {
    ClipFactor out{Tensor({1}, DType::f64, Device::cuda), Tensor({1}, DType::f64, Device::cuda)};
    sum_of_squares_cuda(xs, nullptr, max_norm, out.norm.cuda_data<double>(), out.scale.cuda_data<double>());
    return out;
  }
  double norm = std::sqrt(sum_of_squares_cpu(xs));
  double coef = max_norm / (norm + 1e-6);
  double scale = std::isfinite(norm) && coef < 1.0 ? coef : 1.0;
  return {from_vector(std::vector<double>{norm}, {1}), from_vector(std::vector<double>{scale}, {1})};
}

}  // namespace kiso
