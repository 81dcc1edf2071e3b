// cuda/kernels/copy.cu — kernels that move numbers without arithmetic: fill (zeros, ones, full),
// a 2-D strided copy (concat, slice, slice_backward) and permute (transpose), one thread per
// element moved. Compiled by nvcc for the GPU and by g++ for the simulator (see
// cuda/kernels.h); tensor/ops_shape.cpp's memcpy loops are the oracle, and the results are
// equal bit for bit, as a copy must be.
//
// The copies move each element as one unsigned word W of its size (uint32_t for f32 and i32,
// uint64_t for f64): its bits are never read as a number, so nothing is ever converted.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

template <class T> __global__ void fill_kernel(T* out, int64_t n, T value) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}

// Thread i moves element i of the rows × width block: row i / width, column i % width.
template <class W>
__global__ void copy_2d_kernel(const W* src, int64_t src_pitch, W* dst, int64_t dst_pitch, int64_t rows,
                               int64_t width) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * width) return;
  int64_t r = i / width, c = i % width;
  dst[r * dst_pitch + c] = src[r * src_pitch + c];
}

// Output element i is peeled into coordinates (last axis fastest); its source is
// Σ coordinate · in_stride.
template <class W> __global__ void permute_kernel(const W* x, W* out, int64_t n, Permute g) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t rest = i, from = 0;
  for (int axis = g.rank - 1; axis >= 0; --axis) {
    from += (rest % g.out_size[axis]) * g.in_stride[axis];
    rest /= g.out_size[axis];
  }
  out[i] = x[from];
}

}  // namespace

template <Target D, class T> void fill(T* out, int64_t n, T value) {
  if (n == 0) return;
  KISO_LAUNCH(fill_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, out, n, value);
}
template decltype(fill<kTarget, float>) fill<kTarget, float>;
template decltype(fill<kTarget, double>) fill<kTarget, double>;
template decltype(fill<kTarget, int32_t>) fill<kTarget, int32_t>;

template <Target D, class W>
void copy_2d(const W* src, int64_t src_pitch, W* dst, int64_t dst_pitch, int64_t rows, int64_t width) {
  if (rows == 0 || width == 0) return;
  KISO_LAUNCH(copy_2d_kernel<W>, blocks_for(rows * width), dim3(kBlockThreads), 0, src, src_pitch, dst, dst_pitch,
              rows, width);
}
template decltype(copy_2d<kTarget, uint32_t>) copy_2d<kTarget, uint32_t>;
template decltype(copy_2d<kTarget, uint64_t>) copy_2d<kTarget, uint64_t>;

template <Target D, class W> void permute(const W* x, W* out, int64_t n, const Permute& g) {
  if (n == 0) return;
  KISO_LAUNCH(permute_kernel<W>, blocks_for(n), dim3(kBlockThreads), 0, x, out, n, g);
}
template decltype(permute<kTarget, uint32_t>) permute<kTarget, uint32_t>;
template decltype(permute<kTarget, uint64_t>) permute<kTarget, uint64_t>;

}  // namespace kiso::cuda
