// cuda/kernels/unary.cu — unary elementwise ops (neg, exp, log, tanh, sqrt, rsqrt, erf) and the
// ops with a scalar (x + s, x · s, x^s) in f32 and f64: one thread per element. Compiled by nvcc
// for the GPU and by g++ for the simulator (see cuda/kernels.h); each case is the expression of
// the CPU op in tensor/ops_elementwise.cpp, so the simulator's results are the CPU's bit for bit
// and the GPU's differ only by its math library's last-place rounding.
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

template <class T>
__global__ void unary_kernel(UnaryOp op, const T* x, T* out, int64_t n, double s) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  T v = x[i];
  switch (op) {
    case UnaryOp::add_scalar: out[i] = T(v + s); break;
    case UnaryOp::mul_scalar: out[i] = T(v * s); break;
    case UnaryOp::neg: out[i] = -v; break;
    case UnaryOp::exp: out[i] = std::exp(v); break;
    case UnaryOp::log: out[i] = std::log(v); break;
    case UnaryOp::tanh: out[i] = std::tanh(v); break;
    case UnaryOp::sqrt: out[i] = std::sqrt(v); break;
    case UnaryOp::rsqrt: out[i] = T(1) / std::sqrt(v); break;
    case UnaryOp::erf: out[i] = std::erf(v); break;
    case UnaryOp::pow: out[i] = T(std::pow(v, T(s))); break;
  }
}

}  // namespace

template <Target D, class T> void unary(UnaryOp op, const T* x, T* out, int64_t n, double s) {
  if (n == 0) return;
  KISO_LAUNCH(unary_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, op, x, out, n, s);
}
template decltype(unary<kTarget, float>) unary<kTarget, float>;
template decltype(unary<kTarget, double>) unary<kTarget, double>;

}  // namespace kiso::cuda
