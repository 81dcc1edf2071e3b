// cuda/kernels/embedding.cu — the index ops: embedding gather (forward), its deterministic
// scatter-add (backward), and one_hot, in f32 and f64. Compiled by nvcc for the GPU and by g++
// for the simulator (see cuda/kernels.h); tensor/ops_nn.cpp's and ops_reduce.cpp's loops are
// the oracle.
//
//   forward:  out[n, c] = weight[ids[n], c]
//   backward: dweight[v, c] = Σ over positions n with ids[n] == v of dout[n, c]
//
// The backward never uses float atomics: float addition is not associative, so atomics racing
// on a row would give results that change from run to run. Instead the positions are grouped
// by id on the device (a stable counting sort: integer counts, a scan, a scatter that keeps
// each id's positions in increasing order), and each row gets its own block, whose threads walk
// the channels and add that id's positions in order. Nothing goes through the host (the first
// version sorted on the host, so the ids had to be there at every backward).
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

// ---- the backward, grouped on the device ----
// Four launches, none with a float atomic, so dweight is the same every run and equals the
// CPU's (which adds each id's positions in increasing order):
//   1. count     counts[ids[n]] += 1, one thread per position (integer atomics: the counts do
//                not depend on the order the adds happen in)
//   2. scan      starts[v] = Σ_{u < v} counts[u], one block (each thread a segment of ids);
//                cursor[v] starts as a copy
//   3. scatter   order[cursor[id] + rank] = n, rank = how many earlier positions have the same
//                id: one block walks the positions in tiles of 256, a thread comparing its id
//                with those of the earlier threads of its tile (stable, like the host's
//                counting sort it replaces), and the last of an id in a tile moves its cursor
//   4. rows      block v adds the positions order[starts[v]] .. order[starts[v+1] - 1] of its
//                row, channel by channel, from 0; an id that never occurs gets its zeros there,
//                so dweight needs no separate fill
// An id outside [0, V) is skipped by all four (the forward checked the ids on the host; this
// keeps a bad one from writing outside dweight).

__global__ void embedding_count_kernel(const int32_t* ids, int32_t* counts, int64_t N, int64_t V) {
  int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  int32_t id = ids[n];
  if (id >= 0 && id < V) atomicAdd(&counts[id], 1);
}

// One block: thread t owns ids [t·S, (t+1)·S) with S = ⌈V / 256⌉. Pass 1: each thread's total;
// pass 2: thread 0 turns the 256 totals into their exclusive prefix; pass 3: each thread walks
// its segment again writing starts (and the cursor) from its prefix. starts (V + 1,).
__global__ void embedding_scan_kernel(int32_t* counts_then_cursor, int32_t* starts, int64_t V) {
  __shared__ int32_t segment_start[kBlockThreads];
  int64_t S = (V + kBlockThreads - 1) / kBlockThreads;
  int64_t begin = threadIdx.x * S, end = begin + S < V ? begin + S : V;
  int32_t total = 0;
  for (int64_t v = begin; v < end; ++v) total += counts_then_cursor[v];
  segment_start[threadIdx.x] = total;
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t running = 0;
    for (unsigned t = 0; t < kBlockThreads; ++t) {
      int32_t c = segment_start[t];
      segment_start[t] = running;
      running += c;
    }
    starts[V] = running;
  }
  __syncthreads();
  int32_t running = segment_start[threadIdx.x];
  for (int64_t v = begin; v < end; ++v) {
    int32_t c = counts_then_cursor[v];
    starts[v] = running;
    counts_then_cursor[v] = running;
    running += c;
  }
}

// One block. For each tile of 256 positions: every thread reads its id into shared memory; its
// rank is the number of earlier threads of the tile with the same id, and the cursor of the id
// (read before anyone moves it) says where the tile's first one goes; after a barrier, the
// last thread of the tile with that id moves the cursor past them all.
__global__ void embedding_scatter_kernel(const int32_t* ids, int32_t* cursor, int32_t* order, int64_t N, int64_t V) {
  __shared__ int32_t tile[kBlockThreads];
  for (int64_t base = 0; base < N; base += kBlockThreads) {
    int64_t n = base + threadIdx.x;
    int32_t id = n < N ? ids[n] : -1;
    bool valid = id >= 0 && id < V;
    tile[threadIdx.x] = valid ? id : -1;
    __syncthreads();
    int32_t rank = 0;
    bool last = true;
    int64_t in_tile = N - base < int64_t(kBlockThreads) ? N - base : int64_t(kBlockThreads);
    for (int64_t j = 0; j < in_tile; ++j) {
      bool same = tile[j] == id;
      if (int64_t(j) < int64_t(threadIdx.x)) rank += same;
      else if (int64_t(j) > int64_t(threadIdx.x) && same) last = false;
    }
    int32_t at = valid ? cursor[id] + rank : 0;
    __syncthreads();  // every thread has read its cursor before any moves it
    if (valid) {
      order[at] = int32_t(n);
      if (last) cursor[id] = at + 1;
    }
    __syncthreads();  // the cursors are moved before the next tile reads them
  }
}

// Block v owns row v of dweight; thread t adds channels t, t + 256, ... The sum starts from 0
// and adds the row's positions in increasing order, in T, as the CPU does.
template <class T>
__global__ void embedding_rows_kernel(const T* dout, const int32_t* order, const int32_t* starts, T* dweight,
                                      int64_t C) {
  int64_t v = blockIdx.x;
  T* row = dweight + v * C;
  int32_t first = starts[v], last = starts[v + 1];
  for (int64_t c = threadIdx.x; c < C; c += kBlockThreads) {
    T acc = T(0);
    for (int32_t k = first; k < last; ++k) acc += dout[int64_t(order[k]) * C + c];
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
void embedding_backward(const T* dout, const int32_t* ids, int32_t* counts, int32_t* starts, int32_t* order,
                        T* dweight, int64_t N, int64_t V, int64_t C) {
  if (V == 0 || C == 0) return;
  if (N > 0) KISO_LAUNCH(embedding_count_kernel, blocks_for(N), dim3(kBlockThreads), 0, ids, counts, N, V);
  KISO_LAUNCH(embedding_scan_kernel, dim3(1), dim3(kBlockThreads), 0, counts, starts, V);
  if (N > 0) KISO_LAUNCH(embedding_scatter_kernel, dim3(1), dim3(kBlockThreads), 0, ids, counts, order, N, V);
  KISO_LAUNCH(embedding_rows_kernel<T>, dim3(unsigned(V)), dim3(kBlockThreads), 0, dout, order, starts, dweight, C);
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
