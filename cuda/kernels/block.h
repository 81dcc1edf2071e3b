// cuda/kernels/block.h — what the kernel files share: the target this compilation builds, the
// block size, the grid of an elementwise launch, and a reduction across the threads of a block.
// Included by kernel files only. Everything here sits in an unnamed namespace, as the kernels
// do: the nvcc and g++ compilations of one file each keep their own copy, and the two never
// meet at link time.
#pragma once

#include "cuda/kernels.h"
#include "cuda/launch.h"

namespace kiso::cuda {
namespace {

// The target whose launchers this compilation defines: nvcc builds the GPU's, g++ (against
// cuda/sim) the simulator's. Each kernel file instantiates its launchers for it.
#ifdef __CUDACC__
constexpr Target kTarget = Target::gpu;
#else
constexpr Target kTarget = Target::sim;
#endif

// [[maybe_unused]]: not every kernel file uses these, and nvcc warns of an unused one here.
[[maybe_unused]] constexpr unsigned kBlockThreads = 256;  // threads a block, for every kernel but
                                                          // matmul's tiles; a power of two, as the
                                                          // reduction trees need

// Blocks of kBlockThreads covering n elements, one thread each.
[[maybe_unused]] inline dim3 blocks_for(int64_t n) { return dim3(unsigned((n + kBlockThreads - 1) / kBlockThreads)); }

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

}  // namespace
}  // namespace kiso::cuda
