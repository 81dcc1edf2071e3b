// tests/cuda/sim_profile_kernels.cpp — the kernels of sim_profile_kernels.h, compiled with the
// simulator's access hooks (the Makefile gives this file SIM_PROFILE_FLAGS, as it does the
// cuda/kernels/ sources). Kernel and launcher only; the checks are in test_sim_profile.cpp.
#include "tests/cuda/sim_profile_kernels.h"

#include "cuda/launch.h"

namespace kiso::testing::profile_kernels {
namespace {

__global__ void copy_strided_kernel(const float* in, float* out, int n, int stride) {
  int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[int64_t(i) * stride];
}

struct Float4 {
  float x, y, z, w;
};
__global__ void copy_float4_kernel(const Float4* in, Float4* out, int n4) {
  int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n4) out[i] = in[i];
}

__global__ void read_twice_kernel(const float* in, float* out, int n) {
  int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  float first = i < n ? in[i] : 0.0f;
  __syncthreads();  // between the two loads, so that the compiler keeps both
  if (i < n) out[i] = first + *static_cast<const volatile float*>(&in[i]);
}

// Thread (x, y) writes tile[y][x] from in (row y, a warp per row: coalesced), then reads
// tile[x][y]: the 32 lanes of a warp (x = 0..31, fixed y) read one column. Unpadded, column y's
// words are x·32 + y, all in bank y: a 32-way conflict. With 33 columns they are x·33 + y, in
// banks (x + y) mod 32: all different.
template <int kColumns>
__global__ void transpose_kernel(const float* in, float* out) {
  __shared__ float tile[32][kColumns];
  int x = int(threadIdx.x), y = int(threadIdx.y);
  tile[y][x] = in[y * 32 + x];
  __syncthreads();
  out[y * 32 + x] = tile[x][y];
}

__global__ void shared_doubles_kernel(double* out) {
  __shared__ double s[32];
  int i = int(threadIdx.x);
  s[i] = double(i);
  __syncthreads();
  out[i] = s[i];
}

__global__ void shared_broadcast_kernel(float* out) {
  __shared__ float s[32];
  int i = int(threadIdx.x);
  if (i == 0) s[0] = 42.0f;
  __syncthreads();
  out[i] = s[0];
}

__global__ void divergent_store_kernel(const float* in, float* out) {
  __shared__ float s[16];
  volatile float* kept = s;  // volatile: the store stays though nothing reads it
  int i = int(threadIdx.x);
  if (i % 2 == 0) kept[i / 2] = 1.0f;  // half the lanes: their first access is this store
  out[i] = in[i];                   // every lane: for the odd ones, the load is their first access
}

__global__ void locals_only_kernel(float* out) {
  volatile float local[16];  // volatile: the loads and stores stay, on the thread's own stack
  for (int k = 0; k < 16; ++k) local[k] = float(k * int(threadIdx.x));
  float sum = 0;
  for (int k = 0; k < 16; ++k) sum += local[k];
  out[threadIdx.x] = sum;
}

__global__ void barriers_kernel(int* unused) {
  __syncthreads();
  __syncthreads();
  __syncthreads();
  (void)unused;
}

}  // namespace

void copy_strided(const float* in, float* out, int n, int stride) {
  KISO_LAUNCH(copy_strided_kernel, dim3(unsigned((n + 255) / 256)), dim3(256), 0, in, out, n, stride);
}
void copy_float4(const float* in, float* out, int n4) {
  KISO_LAUNCH(copy_float4_kernel, dim3(unsigned((n4 + 255) / 256)), dim3(256), 0,
              reinterpret_cast<const Float4*>(in), reinterpret_cast<Float4*>(out), n4);
}
void read_twice(const float* in, float* out, int n) {
  KISO_LAUNCH(read_twice_kernel, dim3(unsigned((n + 255) / 256)), dim3(256), 0, in, out, n);
}
void transpose_tile(const float* in, float* out, bool padded) {
  if (padded)
    KISO_LAUNCH(transpose_kernel<33>, dim3(1), dim3(32, 32), 0, in, out);
  else
    KISO_LAUNCH(transpose_kernel<32>, dim3(1), dim3(32, 32), 0, in, out);
}
void shared_doubles(double* out) { KISO_LAUNCH(shared_doubles_kernel, dim3(1), dim3(32), 0, out); }
void shared_broadcast(float* out) { KISO_LAUNCH(shared_broadcast_kernel, dim3(1), dim3(32), 0, out); }
void divergent_store(const float* in, float* out) {
  KISO_LAUNCH(divergent_store_kernel, dim3(1), dim3(32), 0, in, out);
}
void locals_only(float* out) { KISO_LAUNCH(locals_only_kernel, dim3(1), dim3(32), 0, out); }
void barriers(int blocks, int threads, int dynamic_bytes) {
  KISO_LAUNCH(barriers_kernel, dim3(unsigned(blocks)), dim3(unsigned(threads)), size_t(dynamic_bytes), nullptr);
}

}  // namespace kiso::testing::profile_kernels
