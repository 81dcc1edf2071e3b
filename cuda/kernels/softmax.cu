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

namespace kiso::cuda {
namespace {

// Block r owns row r of x, y: (N, Tk).
template <class T>
__global__ void softmax_forward_kernel(const T* x, T* y, int64_t Tk, int64_t Tq, bool causal) {
  __shared__ double scratch[kBlockThreads];
  int64_t r = blockIdx.x;
  const T* xr = x + r * Tk;
  T* yr = y + r * Tk;
  int64_t visible = causal ? r % Tq + (Tk - Tq) + 1 : Tk;  // query r % Tq sees these keys
  unsigned t = threadIdx.x;
  // pass 1: the max, subtracted so that exp never overflows (any visible value starts it; key 0
  // is always visible)
  double m = double(xr[0]);
  for (int64_t c = t; c < visible; c += kBlockThreads) m = m < double(xr[c]) ? double(xr[c]) : m;
  m = block_reduce(m, scratch, [](double a, double b) { return a < b ? b : a; });
  // pass 2: exponentials, then their sum
  double s = 0;
  for (int64_t c = t; c < visible; c += kBlockThreads) {
    T e = std::exp(xr[c] - T(m));
    yr[c] = e;
    s += double(e);
  }
  s = block_reduce(s, scratch, [](double a, double b) { return a + b; });
  // pass 3: normalise; hidden keys get exactly 0
  T inv = T(1) / T(s);
  for (int64_t c = t; c < Tk; c += kBlockThreads) yr[c] = c < visible ? yr[c] * inv : T(0);
}

// Block r owns row r of y, dy, dx: (N, Tk).
template <class T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t Tk) {
  __shared__ double scratch[kBlockThreads];
  int64_t r = blockIdx.x;
  const T *yr = y + r * Tk, *dyr = dy + r * Tk;
  unsigned t = threadIdx.x;
  double dot = 0;  // Σ_k dy_k y_k
  for (int64_t c = t; c < Tk; c += kBlockThreads) dot += double(yr[c]) * double(dyr[c]);
  dot = block_reduce(dot, scratch, [](double a, double b) { return a + b; });
  for (int64_t c = t; c < Tk; c += kBlockThreads) dx[r * Tk + c] = yr[c] * (dyr[c] - T(dot));
}

}  // namespace

template <Target D, class T> void softmax_forward(const T* x, T* y, int64_t N, int64_t Tk, int64_t Tq, bool causal) {
  if (N == 0) return;
  KISO_LAUNCH(softmax_forward_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, x, y, Tk, Tq, causal);
}
template decltype(softmax_forward<kTarget, float>) softmax_forward<kTarget, float>;
template decltype(softmax_forward<kTarget, double>) softmax_forward<kTarget, double>;

template <Target D, class T> void softmax_backward(const T* y, const T* dy, T* dx, int64_t N, int64_t Tk) {
  if (N == 0) return;
  KISO_LAUNCH(softmax_backward_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, y, dy, dx, Tk);
}
template decltype(softmax_backward<kTarget, float>) softmax_backward<kTarget, float>;
template decltype(softmax_backward<kTarget, double>) softmax_backward<kTarget, double>;

}  // namespace kiso::cuda
