// cuda/kernels/embedding.cu — the index ops: embedding gather (forward), its deterministic
// scatter-add (backward), and one_hot, in f32 and f64. Compiled by nvcc for the GPU and by g++
// for the simulator (see cuda/kernels.h); tensor/ops_nn.cpp's and ops_reduce.cpp's loops are
// the oracle.
//
//   forward:  out[n, c] = weight[ids[n], c]
//   backward: dweight[v, c] = Σ over positions n with ids[n] == v of dout[n, c]
//
// The backward never uses atomics: float addition is not associative, so atomics racing on a
// row would give results that change from run to run. Instead the host groups the positions
// by id (a stable counting sort of the ids), and the kernel gives each id that occurs its own
// block, whose threads walk the channels and add that id's positions in increasing order.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

template <class T>
__global__ void embedding_forward_kernel(const T* weight, const int32_t* ids, T* out, int64_t N, int64_t C) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // i = n·C + c
  if (i >= N * C) return;
  int64_t n = i / C, c = i % C;
  out[i] = weight[int64_t(ids[n]) * C + c];
}

// Block u owns row rows[u] of dweight; thread t adds channels t, t + 256, ... The sum starts
// from the zero already there and adds positions in increasing order, in T, as the CPU does.
template <class T>
__global__ void embedding_backward_kernel(const T* dout, const int32_t* order, const int32_t* starts,
                                          const int32_t* rows, T* dweight, int64_t C) {
  int64_t u = blockIdx.x;
  T* row = dweight + int64_t(rows[u]) * C;
  for (int64_t c = threadIdx.x; c < C; c += kBlockThreads) {
    T acc = row[c];
    for (int32_t k = starts[u]; k < starts[u + 1]; ++k) acc += dout[int64_t(order[k]) * C + c];
    row[c] = acc;
  }
}

template <class T> __global__ void one_hot_kernel(const int32_t* index, T* out, int64_t N, int64_t C) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // i = n·C + c
  if (i >= N * C) return;
  out[i] = index[i / C] == i % C ? T(1) : T(0);
}

}  // namespace

template <Target D, class T> void embedding_forward(const T* weight, const int32_t* ids, T* out, int64_t N, int64_t C) {
  if (N * C == 0) return;
  KISO_LAUNCH(embedding_forward_kernel<T>, blocks_for(N * C), dim3(kBlockThreads), 0, weight, ids, out, N, C);
}
template decltype(embedding_forward<kTarget, float>) embedding_forward<kTarget, float>;
template decltype(embedding_forward<kTarget, double>) embedding_forward<kTarget, double>;

template <Target D, class T>
void embedding_backward(const T* dout, const int32_t* order, const int32_t* starts, const int32_t* rows, T* dweight,
                        int64_t unique, int64_t C) {
  if (unique == 0 || C == 0) return;
  KISO_LAUNCH(embedding_backward_kernel<T>, dim3(unsigned(unique)), dim3(kBlockThreads), 0, dout, order, starts, rows,
              dweight, C);
}
template decltype(embedding_backward<kTarget, float>) embedding_backward<kTarget, float>;
template decltype(embedding_backward<kTarget, double>) embedding_backward<kTarget, double>;

template <Target D, class T> void one_hot(const int32_t* index, T* out, int64_t N, int64_t C) {
  if (N * C == 0) return;
  KISO_LAUNCH(one_hot_kernel<T>, blocks_for(N * C), dim3(kBlockThreads), 0, index, out, N, C);
}
template decltype(one_hot<kTarget, float>) one_hot<kTarget, float>;
template decltype(one_hot<kTarget, double>) one_hot<kTarget, double>;

}  // namespace kiso::cuda
