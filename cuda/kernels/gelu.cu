// cuda/kernels/gelu.cu — GELU forward and backward, tanh form (GPT-1's) and exact erf form, f32
// and f64: one thread per element. Compiled by nvcc for the GPU and by g++ for the simulator (see
// cuda/kernels.h); tensor/ops_nn.cpp states the maths and is the oracle:
//   erf:  y = 0.5 x (1 + erf(x/√2)),            dy/dx = Φ(x) + x φ(x),  φ(x) = exp(-x²/2)/√(2π)
//   tanh: y = 0.5 x (1 + tanh u),  u = √(2/π)(x + 0.044715 x³)
//         dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh² u) √(2/π)(1 + 3·0.044715 x²)
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;   // √(2/π)
constexpr double kInvSqrt2 = 0.7071067811865476;      // 1/√2
constexpr double kInvSqrt2Pi = 0.3989422804014327;    // 1/√(2π)
constexpr double kCubic = 0.044715;

// y = gelu(x)
template <class T> __global__ void gelu_forward_kernel(const T* x, T* y, int64_t n, bool exact) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  T v = x[i];
  if (exact) {
    T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
    y[i] = v * cdf;
    return;
  }
  const T k = T(kSqrt2OverPi), a = T(kCubic);
  y[i] = T(0.5) * v * (T(1) + std::tanh(k * (v + a * v * v * v)));
}

// in the forward this was y = gelu(x), so now dx = dy · gelu'(x)
template <class T> __global__ void gelu_backward_kernel(const T* x, const T* dy, T* dx, int64_t n, bool exact) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  T v = x[i];
  if (exact) {
    T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
    dx[i] = dy[i] * (cdf + v * std::exp(T(-0.5) * v * v) * T(kInvSqrt2Pi));
    return;
  }
  const T k = T(kSqrt2OverPi), a = T(kCubic);
  T t = std::tanh(k * (v + a * v * v * v));
  dx[i] = dy[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * k * (T(1) + T(3) * a * v * v));
}

}  // namespace

template <Target D, class T> void gelu_forward(const T* x, T* y, int64_t n, bool exact) {
  if (n == 0) return;
  KISO_LAUNCH(gelu_forward_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, x, y, n, exact);
}
template decltype(gelu_forward<kTarget, float>) gelu_forward<kTarget, float>;
template decltype(gelu_forward<kTarget, double>) gelu_forward<kTarget, double>;

template <Target D, class T> void gelu_backward(const T* x, const T* dy, T* dx, int64_t n, bool exact) {
  if (n == 0) return;
  KISO_LAUNCH(gelu_backward_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, x, dy, dx, n, exact);
}
template decltype(gelu_backward<kTarget, float>) gelu_backward<kTarget, float>;
template decltype(gelu_backward<kTarget, double>) gelu_backward<kTarget, double>;

}  // namespace kiso::cuda
