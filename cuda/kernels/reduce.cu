// cuda/kernels/reduce.cu — sum, max and argmax over the last axis of an (N, C) array, f32 and
// f64: one block of 256 threads per row; and sum_to, the sum over broadcast axes that the
// backward of broadcasting needs: one thread per output element. Compiled by nvcc for the GPU
// and by g++ for the simulator (see cuda/kernels.h); tensor/ops_reduce.cpp's loops are the
// oracle. Deterministic: the order of every addition is fixed by the thread count, never by
// timing (no atomics).
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

// The whole block folds one row of C values into value[0], index[0] (shared arrays of
// kBlockThreads). Thread t first folds columns t, t + 256, t + 512, ... into (value, index);
// then the 256 partial results are folded pairwise in shared memory, halving the active threads
// each round, with a barrier between rounds so that a round reads only finished slots.
// Sums are in double; a maximum keeps the smallest index among equal values (the CPU's
// std::max_element finds the first one). index -1: that thread saw no column (C < 256).
template <class T>
__device__ void fold_row(ReduceOp op, const T* row, int64_t C, double* value, int64_t* index) {
  unsigned t = threadIdx.x;
  double v = 0;
  int64_t at = -1;
  for (int64_t c = t; c < C; c += kBlockThreads) {
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
}

// Block n reduces row n of x (N, C) into out[n].
template <class T> __global__ void reduce_last_kernel(ReduceOp op, const T* x, T* out, int64_t C) {
  __shared__ double value[kBlockThreads];
  __shared__ int64_t index[kBlockThreads];
  fold_row(op, x + int64_t(blockIdx.x) * C, C, value, index);
  if (threadIdx.x == 0) out[blockIdx.x] = T(value[0]);
}

// Block n writes the index of the first maximum of row n of x (N, C).
template <class T> __global__ void argmax_last_kernel(const T* x, int32_t* out, int64_t C) {
  __shared__ double value[kBlockThreads];
  __shared__ int64_t index[kBlockThreads];
  fold_row(ReduceOp::max, x + int64_t(blockIdx.x) * C, C, value, index);
  if (threadIdx.x == 0) out[blockIdx.x] = int32_t(index[0]);
}

// sum_to: output element o keeps x's coordinates along the kept axes and 0 along the reduced
// ones. Its thread walks the reduced axes' coordinates in row-major order, which visits its x
// elements in increasing flat index: the order the CPU loop adds them in, also in T, so the two
// devices agree bit for bit.
template <class T>
__global__ void sum_to_kernel(const T* x, T* out, int64_t out_n, SumTo g) {
  int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= out_n) return;
  int64_t stride[kMaxRank];  // x's row-major element strides
  int64_t base = 0, terms = 1, rest = o, s = 1;
  for (int axis = g.rank - 1; axis >= 0; --axis) {
    stride[axis] = s;
    s *= g.x_size[axis];
    if (g.reduced[axis]) {
      terms *= g.x_size[axis];
    } else {
      base += (rest % g.x_size[axis]) * stride[axis];
      rest /= g.x_size[axis];
    }
  }
  T acc = T(0);
  for (int64_t k = 0; k < terms; ++k) {
    int64_t at = base, left = k;  // k peeled into the reduced axes' coordinates
    for (int axis = g.rank - 1; axis >= 0; --axis) {
      if (!g.reduced[axis]) continue;
      at += (left % g.x_size[axis]) * stride[axis];
      left /= g.x_size[axis];
    }
    acc += x[at];
  }
  out[o] = acc;
}

}  // namespace

template <Target D, class T> void reduce_last(ReduceOp op, const T* x, T* out, int64_t N, int64_t C) {
  if (N == 0) return;
  KISO_LAUNCH(reduce_last_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, op, x, out, C);
}
template decltype(reduce_last<kTarget, float>) reduce_last<kTarget, float>;
template decltype(reduce_last<kTarget, double>) reduce_last<kTarget, double>;

template <Target D, class T> void argmax_last(const T* x, int32_t* out, int64_t N, int64_t C) {
  if (N == 0) return;
  KISO_LAUNCH(argmax_last_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, x, out, C);
}
template decltype(argmax_last<kTarget, float>) argmax_last<kTarget, float>;
template decltype(argmax_last<kTarget, double>) argmax_last<kTarget, double>;

template <Target D, class T> void sum_to(const T* x, T* out, int64_t out_n, const SumTo& g) {
  if (out_n == 0) return;
  KISO_LAUNCH(sum_to_kernel<T>, blocks_for(out_n), dim3(kBlockThreads), 0, x, out, out_n, g);
}
template decltype(sum_to<kTarget, float>) sum_to<kTarget, float>;
template decltype(sum_to<kTarget, double>) sum_to<kTarget, double>;

}  // namespace kiso::cuda
