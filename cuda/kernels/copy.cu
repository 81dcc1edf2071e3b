// cuda/kernels/copy.cu — kernels that move numbers without arithmetic: fill (zeros, ones, full),
// a 2-D strided copy (concat, slice, slice_backward) and permute (transpose), one thread per
// element moved. Compiled by nvcc for the GPU and by g++ for the simulator (see
// cuda/kernels.h); tensor/ops_shape.cpp's memcpy loops are the oracle, and the results are
// equal bit for bit, as a copy must be.
//
// Copies work in 32-bit words whatever the dtype: an f64 element is two words, so one kernel
// serves every dtype and nothing is ever converted.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda::KISO_KERNEL_TARGET {

template <class T> __global__ void fill_kernel(T* out, int64_t n, T value) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}

void fill(Elem elem, void* out, int64_t n, double value) {
  if (n == 0) return;
  if (elem == Elem::f64)
    KISO_LAUNCH(fill_kernel<double>, blocks_for(n), dim3(kBlockThreads), 0, static_cast<double*>(out), n, value);
  else if (elem == Elem::f32)
    KISO_LAUNCH(fill_kernel<float>, blocks_for(n), dim3(kBlockThreads), 0, static_cast<float*>(out), n, float(value));
  else
    KISO_LAUNCH(fill_kernel<int32_t>, blocks_for(n), dim3(kBlockThreads), 0, static_cast<int32_t*>(out), n,
                int32_t(value));
}

// Thread i moves word i of the rows × width block: row i / width, column i % width.
__global__ void copy_2d_kernel(const uint32_t* src, int64_t src_pitch, uint32_t* dst, int64_t dst_pitch, int64_t rows,
                               int64_t width) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * width) return;
  int64_t r = i / width, c = i % width;
  dst[r * dst_pitch + c] = src[r * src_pitch + c];
}

void copy_2d(const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch, int64_t rows, int64_t width) {
  if (rows == 0 || width == 0) return;
  KISO_LAUNCH(copy_2d_kernel, blocks_for(rows * width), dim3(kBlockThreads), 0, static_cast<const uint32_t*>(src),
              src_pitch, static_cast<uint32_t*>(dst), dst_pitch, rows, width);
}

// Output element i is peeled into coordinates (last axis fastest); its source is
// Σ coordinate · in_stride. `words` words are moved per element.
__global__ void permute_kernel(int words, const uint32_t* x, uint32_t* out, int64_t n, Permute g) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t rest = i, from = 0;
  for (int axis = g.rank - 1; axis >= 0; --axis) {
    from += (rest % g.out_size[axis]) * g.in_stride[axis];
    rest /= g.out_size[axis];
  }
  for (int w = 0; w < words; ++w) out[i * words + w] = x[from * words + w];
}

void permute(int words, const void* x, void* out, int64_t n, const Permute& g) {
  if (n == 0) return;
  KISO_LAUNCH(permute_kernel, blocks_for(n), dim3(kBlockThreads), 0, words, static_cast<const uint32_t*>(x),
              static_cast<uint32_t*>(out), n, g);
}

}  // namespace kiso::cuda::KISO_KERNEL_TARGET
