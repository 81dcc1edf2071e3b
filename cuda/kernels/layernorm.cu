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

namespace kiso::cuda {
namespace {

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

}  // namespace

template <Target D, class T>
void layernorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, int64_t N, int64_t C,
                       double eps) {
  if (N == 0) return;
  KISO_LAUNCH(layernorm_forward_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, x, gamma, beta, y, mean, rstd, C,
              eps);
}
template decltype(layernorm_forward<kTarget, float>) layernorm_forward<kTarget, float>;
template decltype(layernorm_forward<kTarget, double>) layernorm_forward<kTarget, double>;

template <Target D, class T>
void layernorm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,
                        T* dbeta, int64_t N, int64_t C) {
  if (N > 0)
    KISO_LAUNCH(layernorm_backward_dx_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, dy, x, mean, rstd, gamma,
                dx, C);
  KISO_LAUNCH(layernorm_backward_params_kernel<T>, blocks_for(C), dim3(kBlockThreads), 0, dy, x, mean, rstd, dgamma,
              dbeta, N, C);
}
template decltype(layernorm_backward<kTarget, float>) layernorm_backward<kTarget, float>;
template decltype(layernorm_backward<kTarget, double>) layernorm_backward<kTarget, double>;

}  // namespace kiso::cuda
