// cuda/kernels/optim.cu — the optimizer's per-element work on the GPU: the AdamW and SGD updates
// (in place) and the chunked sum of squares that gradient clipping's norm is made of, one
// thread per element (per chunk for the sum). Compiled by nvcc for the GPU and by g++ for the
// simulator (see cuda/kernels.h). tensor/ops_optim.cpp is the oracle and states the maths; the
// lines here are the same expressions in double, so the simulator matches it bit for bit.
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

// p ← decay·p − step_size·m / (√v / √(1 − β2^t) + eps), with m, v the updated moments.
template <class T> __global__ void adamw_kernel(T* param, const T* grad, T* m, T* v, int64_t n, AdamWScalars s) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double g = grad[i];
  double p = s.decay * double(param[i]);                        // decoupled weight decay
  double m_i = s.beta1 * double(m[i]) + (1.0 - s.beta1) * g;   // first moment
  double v_i = s.beta2 * double(v[i]) + (1.0 - s.beta2) * g * g;  // second moment
  double denom = std::sqrt(v_i) / s.bias_correction2_sqrt + s.eps;
  param[i] = T(p - s.step_size * m_i / denom);
  m[i] = T(m_i);
  v[i] = T(v_i);
}

// g ← g + wd·p;  buf ← momentum·buf + g (buf = g on the first step);  p ← p − lr·buf (or lr·g).
template <class T>
__global__ void sgd_kernel(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum, double wd,
                           bool first) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double p = param[i];
  double g = double(grad[i]) + wd * p;
  if (buf != nullptr) {
    double b = first ? g : momentum * double(buf[i]) + g;
    buf[i] = T(b);
    g = b;
  }
  param[i] = T(p - lr * g);
}

// Thread k adds the squares of chunk k in order, in double: the CPU's deterministic_sum chunks.
template <class T> __global__ void sum_of_squares_kernel(const T* x, double* partial, int64_t n) {
  int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t begin = k * kSumChunk;
  if (begin >= n) return;
  int64_t end = begin + kSumChunk < n ? begin + kSumChunk : n;
  double s = 0;
  for (int64_t i = begin; i < end; ++i) s += double(x[i]) * double(x[i]);
  partial[k] = s;
}

}  // namespace

template <Target D, class T> void adamw(T* param, const T* grad, T* m, T* v, int64_t n, const AdamWScalars& s) {
  if (n == 0) return;
  KISO_LAUNCH(adamw_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, param, grad, m, v, n, s);
}
template decltype(adamw<kTarget, float>) adamw<kTarget, float>;
template decltype(adamw<kTarget, double>) adamw<kTarget, double>;

template <Target D, class T>
void sgd(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum, double weight_decay, bool first) {
  if (n == 0) return;
  KISO_LAUNCH(sgd_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, param, grad, buf, n, lr, momentum, weight_decay,
              first);
}
template decltype(sgd<kTarget, float>) sgd<kTarget, float>;
template decltype(sgd<kTarget, double>) sgd<kTarget, double>;

template <Target D, class T> void sum_of_squares_chunks(const T* x, double* partial, int64_t n) {
  if (n == 0) return;
  KISO_LAUNCH(sum_of_squares_kernel<T>, blocks_for((n + kSumChunk - 1) / kSumChunk), dim3(kBlockThreads), 0, x,
              partial, n);
}
template decltype(sum_of_squares_chunks<kTarget, float>) sum_of_squares_chunks<kTarget, float>;
template decltype(sum_of_squares_chunks<kTarget, double>) sum_of_squares_chunks<kTarget, double>;

}  // namespace kiso::cuda
