// cuda/kernels/reduce.cu — sum, max and argmax over the last axis of a (rows, cols) array, f32
// and f64: one block of 256 threads per row. Compiled by nvcc for the GPU and by g++ for the
// simulator (see cuda/kernels.h); tensor/ops_reduce.cpp's loops are the oracle. Deterministic:
// the order of every addition is fixed by the thread count, never by timing (no atomics).
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda::KISO_KERNEL_TARGET {

// Thread t first folds columns t, t + 256, t + 512, ... of its block's row into (value, index);
// then the 256 partial results are folded pairwise in shared memory, halving the active threads
// each round, with a barrier between rounds so that a round reads only finished slots.
// Sums are in double; a maximum keeps the smallest index among equal values (the CPU's
// std::max_element finds the first one).
template <class T>
__global__ void reduce_last_kernel(ReduceOp op, const T* x, void* out, int64_t cols) {
  __shared__ double value[kBlockThreads];
  __shared__ int64_t index[kBlockThreads];  // -1: this thread saw no column (cols < 256)
  const T* row = x + int64_t(blockIdx.x) * cols;
  unsigned t = threadIdx.x;
  double v = 0;
  int64_t at = -1;
  for (int64_t c = t; c < cols; c += kBlockThreads) {
    double xc = double(row[c]);
    if (op == ReduceOp::sum) v += xc, at = c;
    else if (at < 0 || xc > v) v = xc, at = c;
  }
  value[t] = v, index[t] = at;
  __syncthreads();
  for (unsigned half = kBlockThreads / 2; half > 0; half /= 2) {
    if (t < half && index[t + half] >= 0) {
      if (op == ReduceOp::sum) {
        value[t] += value[t + half];
        index[t] = index[t] < 0 ? index[t + half] : index[t];
      } else {
        double w = value[t + half];
        int64_t wi = index[t + half];
        if (index[t] < 0 || w > value[t] || (w == value[t] && wi < index[t])) value[t] = w, index[t] = wi;
      }
    }
    __syncthreads();
  }
  if (t == 0) {
    if (op == ReduceOp::argmax) static_cast<int32_t*>(out)[blockIdx.x] = int32_t(index[0]);
    else static_cast<T*>(out)[blockIdx.x] = T(value[0]);
  }
}

void reduce_last(ReduceOp op, bool f64, const void* x, void* out, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  with_dtype(f64, [&](auto zero) {
    using T = decltype(zero);
    launch("reduce_last_kernel", reduce_last_kernel<T>, dim3(static_cast<unsigned>(rows)), dim3(kBlockThreads), 0, op,
           static_cast<const T*>(x), out, cols);
  });
}

}  // namespace kiso::cuda::KISO_KERNEL_TARGET
