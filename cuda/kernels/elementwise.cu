// cuda/kernels/elementwise.cu — binary elementwise ops with broadcasting (add, sub, mul, div) in
// f32 and f64: one thread per output element. Compiled by nvcc for the GPU and by g++ for the
// simulator (see cuda/kernels.h); the CPU loops of tensor/ops_elementwise.cpp are the oracle.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

// out[i] = a[ia] op b[ib]: i is peeled into coordinates along g.size (last axis fastest), and
// each input's offset is Σ coordinate · its stride (0 on a broadcast axis, so it repeats).
template <class T>
__global__ void binary_kernel(BinaryOp op, const T* a, const T* b, T* out, int64_t n, Broadcast g) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t rest = i, ia = 0, ib = 0;
  for (int axis = g.rank - 1; axis >= 0; --axis) {
    int64_t c = rest % g.size[axis];
    rest /= g.size[axis];
    ia += c * g.stride_a[axis];
    ib += c * g.stride_b[axis];
  }
  T x = a[ia], y = b[ib];
  switch (op) {
    case BinaryOp::add: out[i] = x + y; break;
    case BinaryOp::sub: out[i] = x - y; break;
    case BinaryOp::mul: out[i] = x * y; break;
    case BinaryOp::div: out[i] = x / y; break;
  }
}

}  // namespace

template <Target D, class T> void binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const Broadcast& g) {
  if (n == 0) return;
  KISO_LAUNCH(binary_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, op, a, b, out, n, g);
}
template decltype(binary<kTarget, float>) binary<kTarget, float>;
template decltype(binary<kTarget, double>) binary<kTarget, double>;

}  // namespace kiso::cuda
