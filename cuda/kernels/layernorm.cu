// cuda/kernels/layernorm.cu — layer normalisation over the last axis, forward and backward, f32
// and f64. Compiled by nvcc for the GPU and by g++ for the simulator (see cuda/kernels.h);
// tensor/ops_nn.cpp states the maths and is the oracle:
//   forward:  mean = 1/C Σ x,  var = 1/C Σ (x - mean)²,  rstd = 1/√(var + eps),
//             y = (x - mean)·rstd·γ + β           one block of 256 threads per row
//   backward: g = dy·γ,  dx = rstd·(g - mean_C(g) - x̂·mean_C(g·x̂))     one block per row
//             dγ = Σ_rows dy·x̂,  dβ = Σ_rows dy                        one thread per column,
//             rows added in order (deterministic, no atomics)
// Row sums accumulate in double.
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda::KISO_KERNEL_TARGET {

template <class T>
__global__ void layernorm_forward_kernel(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                                         int64_t C, double eps) {
  __shared__ double scratch[kBlockThreads];
  auto add = [](double a, double b) { return a + b; };
  int64_t n = blockIdx.x;
  const T* xn = x + n * C;
  unsigned t = threadIdx.x;
  double s = 0;
  for (int64_t c = t; c < C; c += kBlockThreads) s += double(xn[c]);
  T m = T(block_reduce(s, scratch, add) / double(C));
  double v = 0;
  for (int64_t c = t; c < C; c += kBlockThreads) v += double(xn[c] - m) * double(xn[c] - m);
  T r = T(1) / std::sqrt(T(block_reduce(v, scratch, add) / double(C)) + T(eps));
  for (int64_t c = t; c < C; c += kBlockThreads) y[n * C + c] = (xn[c] - m) * r * gamma[c] + beta[c];
  if (t == 0) mean[n] = m, rstd[n] = r;
}

template <class T>
__global__ void layernorm_backward_dx_kernel(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma,
                                             T* dx, int64_t C) {
  __shared__ double scratch[kBlockThreads];
  auto add = [](double a, double b) { return a + b; };
  int64_t n = blockIdx.x;
  T m = mean[n], r = rstd[n];
  unsigned t = threadIdx.x;
  double sg = 0, sgx = 0;
  for (int64_t c = t; c < C; c += kBlockThreads) {
    T g = dy[n * C + c] * gamma[c], xhat = (x[n * C + c] - m) * r;
    sg += double(g), sgx += double(g * xhat);
  }
  T mean_g = T(block_reduce(sg, scratch, add) / double(C));
  T mean_gx = T(block_reduce(sgx, scratch, add) / double(C));
  for (int64_t c = t; c < C; c += kBlockThreads) {
    T g = dy[n * C + c] * gamma[c], xhat = (x[n * C + c] - m) * r;
    dx[n * C + c] = r * (g - mean_g - xhat * mean_gx);
  }
}

template <class T>
__global__ void layernorm_backward_params_kernel(const T* dy, const T* x, const T* mean, const T* rstd, T* dgamma,
                                                 T* dbeta, int64_t N, int64_t C) {
  int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double dg = 0, db = 0;
  for (int64_t n = 0; n < N; ++n) {
    T d = dy[n * C + c];
    dg += double(d * ((x[n * C + c] - mean[n]) * rstd[n]));
    db += double(d);
  }
  dgamma[c] = T(dg), dbeta[c] = T(db);
}

void layernorm_forward(bool f64, const void* x, const void* gamma, const void* beta, void* y, void* mean, void* rstd,
                       int64_t N, int64_t C, double eps) {
  if (N == 0) return;
  with_dtype(f64, [&](auto zero) {
    using T = decltype(zero);
    KISO_LAUNCH(layernorm_forward_kernel<T>, dim3(static_cast<unsigned>(N)), dim3(kBlockThreads), 0,
                static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta), static_cast<T*>(y),
                static_cast<T*>(mean), static_cast<T*>(rstd), C, eps);
  });
}

void layernorm_backward(bool f64, const void* dy, const void* x, const void* mean, const void* rstd,
                        const void* gamma, void* dx, void* dgamma, void* dbeta, int64_t N, int64_t C) {
  with_dtype(f64, [&](auto zero) {
    using T = decltype(zero);
    auto *pdy = static_cast<const T*>(dy), *px = static_cast<const T*>(x);
    auto *pm = static_cast<const T*>(mean), *pr = static_cast<const T*>(rstd);
    if (N > 0)
      KISO_LAUNCH(layernorm_backward_dx_kernel<T>, dim3(static_cast<unsigned>(N)), dim3(kBlockThreads), 0, pdy, px, pm,
                  pr, static_cast<const T*>(gamma), static_cast<T*>(dx), C);
    KISO_LAUNCH(layernorm_backward_params_kernel<T>, blocks_for(C), dim3(kBlockThreads), 0, pdy, px, pm, pr,
                static_cast<T*>(dgamma), static_cast<T*>(dbeta), N, C);
  });
}

}  // namespace kiso::cuda::KISO_KERNEL_TARGET
