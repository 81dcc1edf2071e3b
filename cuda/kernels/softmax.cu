// cuda/kernels/softmax.cu — softmax over the last axis, forward (with the causal mask) and
// backward, f32 and f64: one block of 256 threads per row. Compiled by nvcc for the GPU and by
// g++ for the simulator (see cuda/kernels.h); tensor/ops_nn.cpp's softmax is the oracle.
//
//   forward:  m = max_j x_j over the visible keys, e_j = exp(x_j - m), y_j = e_j / Σ e,
//             y_j = 0 for a key hidden by the causal mask (j > i + Tk - Tq)
//   backward: dx_j = y_j (dy_j - Σ_k dy_k y_k)
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda::KISO_KERNEL_TARGET {

template <class T>
__global__ void softmax_forward_kernel(const T* x, T* y, int64_t cols, int64_t tq, bool causal) {
  __shared__ double scratch[kBlockThreads];
  int64_t r = blockIdx.x;
  const T* xr = x + r * cols;
  T* yr = y + r * cols;
  int64_t visible = causal ? r % tq + (cols - tq) + 1 : cols;  // query r % tq sees these keys
  unsigned t = threadIdx.x;
  double m = double(xr[0]);  // any visible value starts the max (key 0 is always visible)
  for (int64_t c = t; c < visible; c += kBlockThreads) m = m < double(xr[c]) ? double(xr[c]) : m;
  m = block_reduce(m, scratch, [](double a, double b) { return a < b ? b : a; });
  double s = 0;
  for (int64_t c = t; c < visible; c += kBlockThreads) {
    T e = std::exp(xr[c] - T(m));
    yr[c] = e;
    s += double(e);
  }
  s = block_reduce(s, scratch, [](double a, double b) { return a + b; });
  T inv = T(1) / T(s);
  for (int64_t c = t; c < cols; c += kBlockThreads) yr[c] = c < visible ? yr[c] * inv : T(0);
}

template <class T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t cols) {
  __shared__ double scratch[kBlockThreads];
  int64_t r = blockIdx.x;
  const T *yr = y + r * cols, *dyr = dy + r * cols;
  unsigned t = threadIdx.x;
  double dot = 0;
  for (int64_t c = t; c < cols; c += kBlockThreads) dot += double(yr[c]) * double(dyr[c]);
  dot = block_reduce(dot, scratch, [](double a, double b) { return a + b; });
  for (int64_t c = t; c < cols; c += kBlockThreads) dx[r * cols + c] = yr[c] * (dyr[c] - T(dot));
}

void softmax_forward(bool f64, const void* x, void* y, int64_t rows, int64_t cols, int64_t tq, bool causal) {
  if (rows == 0) return;
  with_dtype(f64, [&](auto zero) {
    using T = decltype(zero);
    KISO_LAUNCH(softmax_forward_kernel<T>, dim3(static_cast<unsigned>(rows)), dim3(kBlockThreads), 0,
                static_cast<const T*>(x), static_cast<T*>(y), cols, tq, causal);
  });
}

void softmax_backward(bool f64, const void* y, const void* dy, void* dx, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  with_dtype(f64, [&](auto zero) {
    using T = decltype(zero);
    KISO_LAUNCH(softmax_backward_kernel<T>, dim3(static_cast<unsigned>(rows)), dim3(kBlockThreads), 0,
                static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), cols);
  });
}

}  // namespace kiso::cuda::KISO_KERNEL_TARGET
