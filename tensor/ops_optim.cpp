// tensor/ops_optim.cpp — the in-place arithmetic of the optimizers: AdamW and SGD updates of
// one parameter, scaling (for gradient clipping) and the sum of squares (for its norm).
//
// What it is: plain loops over contiguous memory, one pass per update, OpenMP over elements.
// What it is not: an optimizer. Walking the parameter list, keeping the state tensors and
// choosing which parameters decay is nn/optim.cpp. Nothing here records a graph.
//
// Precision: every element is read as double, updated in double and rounded once when stored.
// The loops are memory-bound (four tensors read, three written for AdamW), so the wider
// arithmetic is free, and an f64 parameter gets exactly the formula the tests write out.
// Reference: PyTorch's torch/optim/adamw.py and sgd.py (the single-tensor code paths).
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

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
void adamw_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h) {
  OpScope scope("adamw_update", param, grad, m, v, param, m, v);  // read 4, write 3
  const char* op = "adamw_update";
  check_float(op, param, "param");
  check_like_param(op, param, grad, "grad");
  check_like_param(op, param, m, "m");
  check_like_param(op, param, v, "v");
  check(h.step >= 1, op, "step is 1-based (the number of updates including this one), got {}", h.step);
  check(h.lr >= 0 && h.eps >= 0 && h.weight_decay >= 0, op,
        "lr, eps and weight_decay must be >= 0, got lr={} eps={} weight_decay={}", h.lr, h.eps, h.weight_decay);
  check(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1, op,
        "betas must lie in [0, 1), got beta1={} beta2={}", h.beta1, h.beta2);

  // The scalars, in double: 1 − β^t is far from 0 only after a few steps (β2 = 0.999 gives
  // 1e-3 at t = 1), so it must not be rounded to f32 first.
  const double decay = 1.0 - h.lr * h.weight_decay;  // p ← decay·p
  const double bias_correction1 = 1.0 - std::pow(h.beta1, double(h.step));
  const double bias_correction2 = 1.0 - std::pow(h.beta2, double(h.step));
  const double step_size = h.lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  const double beta1 = h.beta1, beta2 = h.beta2, eps = h.eps;
  if (param.is_cuda()) {  // the loop below, one thread per element (cuda/kernels/optim.cu)
    launch_cuda(op, param, [&]<cuda::Target D, class T> {
      cuda::adamw<D>(param.cuda_data<T>(), grad.cuda_data<T>(), m.cuda_data<T>(), v.cuda_data<T>(), param.numel(),
                     {decay, beta1, beta2, eps, step_size, bias_correction2_sqrt});
    });
    return;
  }

  with_float(param, [&]<class T>(T) {
    T* pp = param.data<T>();
    const T* pg = grad.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    int64_t n = param.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      double g = pg[i];
      double p = decay * double(pp[i]);                        // decoupled weight decay
      double m_i = beta1 * double(pm[i]) + (1.0 - beta1) * g;  // first moment
      double v_i = beta2 * double(pv[i]) + (1.0 - beta2) * g * g;  // second moment
      double denom = std::sqrt(v_i) / bias_correction2_sqrt + eps;  // √v̂ + eps
      pp[i] = T(p - step_size * m_i / denom);                  // p − lr·m̂ / (√v̂ + eps)
      pm[i] = T(m_i);
      pv[i] = T(v_i);
    }
  });
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

void scale_inplace(Tensor& x, double s) {
  OpScope scope("scale_inplace", x, x);
  check_float("scale_inplace", x);
  if (x.is_cuda()) {  // x · s in double, rounded once: the mul-by-scalar kernel
    launch_cuda("scale_inplace", x, [&]<cuda::Target D, class T> {
      cuda::unary<D>(cuda::UnaryOp::mul_scalar, x.cuda_data<T>(), x.cuda_data<T>(), x.numel(), s);
    });
    return;
  }
  with_float(x, [&]<class T>(T) {
    T* px = x.data<T>();
    int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) px[i] = T(s * double(px[i]));
  });
}

// Accumulated like `sum` (deterministic_sum, tensor/dispatch.h): bit-identical for any thread count.
// On cuda a thread sums each chunk and the host adds the chunk sums in order: the same
// additions in the same order, so both devices give the same double.
static_assert(cuda::kSumChunk == kDeterministicChunk, "the cuda chunks must be deterministic_sum's");
double sum_of_squares(const Tensor& x) {
  OpScope scope("sum_of_squares", x);
  check_float("sum_of_squares", x);
  if (x.is_cuda()) {
    int64_t chunks = (x.numel() + cuda::kSumChunk - 1) / cuda::kSumChunk;
    Tensor partial({chunks}, DType::f64, Device::cuda);
    launch_cuda("sum_of_squares", x, [&]<cuda::Target D, class T> {
      cuda::sum_of_squares_chunks<D>(x.cuda_data<T>(), partial.cuda_data<double>(), x.numel());
    });
    double total = 0;
    for (double s : partial.to_vector<double>()) total += s;
    return total;
  }
  return with_float(x, [&]<class T>(T) {
    return deterministic_sum(x.data<T>(), x.numel(), [](T v) { return double(v) * double(v); });
  });
}

}  // namespace kiso
