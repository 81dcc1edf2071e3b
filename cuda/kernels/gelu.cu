// cuda/kernels/gelu.cu — GELU forward and backward, tanh form (GPT-1's) and exact erf form, f32
// and f64: one thread per element. Compiled by nvcc for the GPU and by g++ for the simulator (see
// cuda/kernels.h); tensor/ops_nn.cpp states the maths and is the oracle:
//   erf:  y = 0.5 x (1 + erf(x/√2)),            dy/dx = Φ(x) + x φ(x),  φ(x) = exp(-x²/2)/√(2π)
//   tanh: y = 0.5 x (1 + tanh u),  u = √(2/π)(x + 0.044715 x³)
//         dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh² u) √(2/π)(1 + 3·0.044715 x²)
// The per-element formulas live in cuda/kernels/epilogue.h, which the matmul epilogue (bias + GELU
// as a linear layer stores its output, and the fused backward) shares.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/epilogue.h"

namespace kiso::cuda {
namespace {

// y = gelu(x) (gelu_value: cuda/kernels/epilogue.h, shared with the matmul epilogue)
template <class T> __global__ void gelu_forward_kernel(const T* x, T* y, int64_t n, bool exact) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = gelu_value(x[i], exact);
}

// in the forward this was y = gelu(x), so now dx = dy · gelu'(x)
template <class T> __global__ void gelu_backward_kernel(const T* x, const T* dy, T* dx, int64_t n, bool exact) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] = dy[i] * gelu_derivative(x[i], exact);
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
