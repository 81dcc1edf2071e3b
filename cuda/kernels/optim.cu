// cuda/kernels/optim.cu — the optimizer's per-element work on the GPU: the AdamW and SGD updates
// (in place) and the sum of squares that gradient clipping's norm is made of. Compiled by nvcc
// for the GPU and by g++ for the simulator (see cuda/kernels.h). tensor/ops_optim.cpp is the
// oracle and states the maths; the lines here are the same expressions in double, so the
// simulator matches it bit for bit.
//
//   adamw          one launch per parameter, one thread per element: the plain version, kept
//                  as the oracle of the next
//   adamw_multi    every parameter in one launch (up to 40 a launch: the list rides in the
//                  kernel's arguments), a block per 4096-element chunk; gradient clipping's
//                  factor read from device memory, so the step needs nothing from the host
//   sum_of_squares_partials + sum_of_squares_total
//                  the gradient norm as a fixed tree: a block per 4096-element chunk (coalesced
//                  reads, 256 lanes, then block_reduce's pairwise tree), then one block for the
//                  chunk sums; the clip factor is computed there too. It replaced one thread per
//                  chunk walking its 4096 elements alone (a stride of 16 KB between the lanes of
//                  a warp: one 32-byte sector per 4-byte load) with the chunk sums added on the
//                  host, which needed them copied back.
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

// ---- multi-tensor ----

// The list a launch carries by value (cuda/kernels.h: kMultiTensorMax). first_block[k]: the
// first block of tensor k; first_block[count]: the grid size.
template <class Entry> struct TensorList {
  int64_t count;
  int64_t first_block[kMultiTensorMax + 1];
  Entry t[kMultiTensorMax];
};

// The tensor block b works on: the last k with first_block[k] <= b (binary search; the same for
// every thread of the block, so no divergence).
template <class Entry> __device__ int64_t tensor_of_block(const TensorList<Entry>& list, int64_t b) {
  int64_t lo = 0, hi = list.count - 1;
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (list.first_block[mid] <= b) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// Block b: chunk b - first_block[k] of tensor k; thread t its elements t, t + 256, ... of the
// chunk. The arithmetic is adamw_kernel's, line for line, with the gradient first read as
// T(scale · g) when there is a scale (what scale_inplace would have stored).
template <class T>
__global__ void adamw_multi_kernel(TensorList<AdamWTensor<T>> list, const double* grad_scale) {
  int64_t b = blockIdx.x, k = tensor_of_block(list, b);
  const AdamWTensor<T>& a = list.t[k];
  const AdamWScalars& s = a.s;
  int64_t begin = (b - list.first_block[k]) * kMultiTensorChunk;
  int64_t end = begin + kMultiTensorChunk < a.n ? begin + kMultiTensorChunk : a.n;
  const bool scaled = grad_scale != nullptr;
  const double scale = scaled ? *grad_scale : 1.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    double g = scaled ? double(T(scale * double(a.grad[i]))) : double(a.grad[i]);
    double p = s.decay * double(a.param[i]);                      // decoupled weight decay
    double m_i = s.beta1 * double(a.m[i]) + (1.0 - s.beta1) * g;   // first moment
    double v_i = s.beta2 * double(a.v[i]) + (1.0 - s.beta2) * g * g;  // second moment
    double denom = std::sqrt(v_i) / s.bias_correction2_sqrt + s.eps;
    a.param[i] = T(p - s.step_size * m_i / denom);
    a.m[i] = T(m_i);
    a.v[i] = T(v_i);
  }
}

// One tensor of a sum of squares: x (n,).
template <class T> struct SquaresTensor {
  const T* x;
  int64_t n;
};

// Block b sums chunk b - first_block[k] of tensor k into partial[b] (the launcher moves partial
// past the chunks of the lists before this one): lane t
// adds the squares of elements t, t + 256, ... of the chunk in order, with one fma each (one
// rounding, on the GPU and in the simulator alike), then block_reduce adds the lanes pairwise.
template <class T>
__global__ void sum_of_squares_partials_kernel(TensorList<SquaresTensor<T>> list, double* partial) {
  __shared__ double scratch[kBlockThreads];
  int64_t b = blockIdx.x, k = tensor_of_block(list, b);
  const SquaresTensor<T>& a = list.t[k];
  int64_t begin = (b - list.first_block[k]) * kSumChunk;
  int64_t end = begin + kSumChunk < a.n ? begin + kSumChunk : a.n;
  double lane = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kBlockThreads) lane = std::fma(double(a.x[i]), double(a.x[i]), lane);
  double sum = block_reduce(lane, scratch, [](double x, double y) { return x + y; });
  if (threadIdx.x == 0) partial[b] = sum;
}

// One block: lane t adds partial t, t + 256, ... in order, block_reduce the lanes; thread 0
// writes the total and, for clipping, the norm and the factor (PyTorch's clip_grad_norm_).
__global__ void sum_of_squares_total_kernel(const double* partial, int64_t P, double* total, double max_norm,
                                            double* norm, double* scale) {
  __shared__ double scratch[kBlockThreads];
  double lane = 0;
  for (int64_t i = threadIdx.x; i < P; i += kBlockThreads) lane += partial[i];
  double sum = block_reduce(lane, scratch, [](double x, double y) { return x + y; });
  if (threadIdx.x != 0) return;
  if (total != nullptr) *total = sum;
  double n = std::sqrt(sum);
  if (norm != nullptr) *norm = n;
  if (scale != nullptr) {
    double coef = max_norm / (n + 1e-6);
    *scale = std::isfinite(n) && coef < 1.0 ? coef : 1.0;
  }
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

template <Target D, class T> void adamw_multi(const AdamWTensor<T>* tensors, int64_t count, const double* grad_scale) {
  for (int64_t first = 0; first < count; first += kMultiTensorMax) {
    TensorList<AdamWTensor<T>> list{};
    int64_t blocks = 0;
    for (int64_t k = first; k < count && k < first + kMultiTensorMax; ++k) {
      if (tensors[k].n == 0) continue;
      list.first_block[list.count] = blocks;
      list.t[list.count++] = tensors[k];
      blocks += (tensors[k].n + kMultiTensorChunk - 1) / kMultiTensorChunk;
    }
    list.first_block[list.count] = blocks;
    if (blocks == 0) continue;
    KISO_LAUNCH(adamw_multi_kernel<T>, dim3(unsigned(blocks)), dim3(kBlockThreads), 0, list, grad_scale);
  }
}
template decltype(adamw_multi<kTarget, float>) adamw_multi<kTarget, float>;
template decltype(adamw_multi<kTarget, double>) adamw_multi<kTarget, double>;

template <Target D, class T>
void sum_of_squares_partials(const T* const* xs, const int64_t* ns, int64_t count, double* partial) {
  for (int64_t first = 0; first < count; first += kMultiTensorMax) {
    TensorList<SquaresTensor<T>> list{};
    int64_t blocks = 0;
    for (int64_t k = first; k < count && k < first + kMultiTensorMax; ++k) {
      if (ns[k] == 0) continue;
      list.first_block[list.count] = blocks;
      list.t[list.count++] = {xs[k], ns[k]};
      blocks += (ns[k] + kSumChunk - 1) / kSumChunk;
    }
    list.first_block[list.count] = blocks;
    if (blocks == 0) continue;
    KISO_LAUNCH(sum_of_squares_partials_kernel<T>, dim3(unsigned(blocks)), dim3(kBlockThreads), 0, list, partial);
    partial += blocks;  // the next list's chunks follow, in list order
  }
}
template decltype(sum_of_squares_partials<kTarget, float>) sum_of_squares_partials<kTarget, float>;
template decltype(sum_of_squares_partials<kTarget, double>) sum_of_squares_partials<kTarget, double>;

template <Target D>
void sum_of_squares_total(const double* partial, int64_t P, double* total, double max_norm, double* norm,
                          double* scale) {
  KISO_LAUNCH(sum_of_squares_total_kernel, dim3(1), dim3(kBlockThreads), 0, partial, P, total, max_norm, norm, scale);
}
template decltype(sum_of_squares_total<kTarget>) sum_of_squares_total<kTarget>;

}  // namespace kiso::cuda
