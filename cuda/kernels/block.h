// cuda/kernels/block.h — what the kernel files share: the block size, the grid of an
// elementwise launch, the dtype switch of every launcher, and a reduction across the threads of
// a block. Included by kernel files only (compiled for the GPU and for the simulator alike).
#pragma once

#include "cuda/launch.h"

namespace kiso::cuda::KISO_KERNEL_TARGET {

constexpr unsigned kBlockThreads = 256;  // threads a block, for every kernel but matmul's tiles;
                                         // a power of two, as the reduction trees need

// Blocks of kBlockThreads covering n elements, one thread each.
inline dim3 blocks_for(int64_t n) { return dim3(unsigned((n + kBlockThreads - 1) / kBlockThreads)); }

// The dtype switch of every launcher: f(T{}) with T = double when f64, else float.
template <class F> void with_dtype(bool f64, F&& f) {
  if (f64) f(double{});
  else f(float{});
}

// Every thread of a kBlockThreads block passes its v; every thread gets op over all of them.
// `scratch` is shared memory of kBlockThreads elements. The tree halves the active threads
// each round with a barrier between rounds, so the order of the combinations is fixed
// (deterministic) and a round reads only finished slots; the last barrier lets the caller
// reuse `scratch` at once.
template <class T, class Op>
__device__ T block_reduce(T v, T* scratch, Op op) {
  unsigned t = threadIdx.x;
  scratch[t] = v;
  __syncthreads();
  for (unsigned half = kBlockThreads / 2; half > 0; half /= 2) {
    if (t < half) scratch[t] = op(scratch[t], scratch[t + half]);
    __syncthreads();
  }
  T out = scratch[0];
  __syncthreads();
  return out;
}

}  // namespace kiso::cuda::KISO_KERNEL_TARGET
