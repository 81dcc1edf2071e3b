// cuda/kernels/residual_layernorm.cu — the post-LN block's "LN(x + dropout(branch))" in one pass
// over each row, forward and backward, f32 and f64. Compiled by nvcc for the GPU and by g++ for
// the simulator (see cuda/kernels.h); tensor/ops_nn.cpp's residual_layernorm is the oracle, and
// so are the unfused kernels (dropout.cu, elementwise.cu's add, layernorm.cu): the same operations
// in the same order, s bit for bit, y and the gradients up to where a compiler fuses a multiply
// into an add (an FMA) in one kernel and not the other.
//
//   forward:  s = x + z·keep/(1-p),  keep = uniform(draw offset + n·C + c) >= p   (dropout.cu's draw)
//             mean, rstd of s;  y = (s - mean)·rstd·γ + β         saves s, mean, rstd; no mask
//   backward: g = dy·γ,  ds = rstd·(g - mean_C(g) - ŝ·mean_C(g·ŝ)),  dx = ds,  dz = ds·keep/(1-p)
//             dγ = Σ_rows dy·ŝ,  dβ = Σ_rows dy
//
// One block of 256 threads takes kResidualLayerNormRows (32) consecutive rows, a row at a time.
// γ and β go to shared memory once a block, and the row being worked on lives there too, so
// each number of x, z, dy and s is read from global memory once and each of y, s, dx, dz written
// once (the unfused ops re-read their input for each of layernorm's passes and pass s and the
// dropped z through memory). dγ and dβ: each thread adds its own columns of the block's rows in
// row order (in double, in shared memory), the block writes one partial row of each, and a second
// kernel adds the partial rows in block order: deterministic, no atomics, and 8 rows' worth of
// blocks per SM instead of layernorm.cu's one thread per column over all N rows.
//
// Shared memory: forward 3·C·sizeof(T), backward 2·C·8 + 3·C·sizeof(T); the tensor op checks it
// against the 48 KiB a block may have without opting in (C ≤ 1755 in f32, 1228 in f64).
// Not here: a Philox block shared by four neighbouring threads (each thread computes its own
// draw's block, as dropout.cu does: 4× the arithmetic it needs, none of the memory traffic).
#include <cmath>

#include "base/philox.h"
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

// a·b rounded by itself: nvcc would otherwise fuse the multiply into the add after it (an FMA,
// one rounding instead of two) and s would differ in its last bit from dropout's output + x.
template <class T> __device__ T mul_rounded(T a, T b) {
#ifdef __CUDA_ARCH__
  if constexpr (sizeof(T) == 4) return __fmul_rn(a, b);
  else return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// Is element i of the stream kept? dropout.cu's test, draw offset + i.
__device__ inline bool kept(uint64_t seed, uint64_t stream, uint64_t offset, uint64_t i, float p) {
  uint64_t d = offset + i;
  return uniform_from_bits(philox_block(seed, stream, d / 4)[d % 4]) >= p;
}

template <class T>
__global__ void residual_layernorm_forward_kernel(const T* x, const T* z, const T* gamma, const T* beta, T* y, T* s,
                                                  T* mean, T* rstd, int64_t N, int64_t C, double eps, float p,
                                                  T scale, uint64_t seed, uint64_t stream, uint64_t offset) {
  __shared__ double scratch[kBlockThreads];
  __shared__ double stats[2 * kResidualLayerNormRows];  // the block's rows' mean, then rstd (T's values)
  KISO_DYNAMIC_SHARED(double, shared);  // declared as double for its alignment; holds T
  T* g_s = reinterpret_cast<T*>(shared);  // (C,) γ
  T* b_s = g_s + C;                        // (C,) β
  T* s_s = b_s + C;                        // (C,) the row's s
  auto add = [](double a, double b) { return a + b; };
  unsigned t = threadIdx.x;
  for (int64_t c = t; c < C; c += kBlockThreads) g_s[c] = gamma[c], b_s[c] = beta[c];
  // every thread touches only its own columns c ≡ t below, so no barrier is needed before them
  int64_t n0 = int64_t(blockIdx.x) * kResidualLayerNormRows, n1 = n0 + kResidualLayerNormRows < N ? n0 + kResidualLayerNormRows : N;
  for (int64_t n = n0; n < n1; ++n) {
    // pass 1: s = x + dropout(z), kept in shared memory and written once for the backward
    double sum = 0;
    for (int64_t c = t; c < C; c += kBlockThreads) {
      int64_t i = n * C + c;
      T zv = z[i];  // read by every lane, kept or not: a predicated load would save no sector
      T zd = p > 0 ? (kept(seed, stream, offset, uint64_t(i), p) ? mul_rounded(zv, scale) : T(0)) : zv;
      T sv = x[i] + zd;
      s_s[c] = sv, s[i] = sv;
      sum += double(sv);
    }
    // passes 2-3: layernorm.cu's mean and variance, from shared memory
    T m = T(block_reduce(sum, scratch, add) / double(C));
    double v = 0;
    for (int64_t c = t; c < C; c += kBlockThreads) v += double(s_s[c] - m) * double(s_s[c] - m);
    T r = T(1) / std::sqrt(T(block_reduce(v, scratch, add) / double(C)) + T(eps));
    for (int64_t c = t; c < C; c += kBlockThreads) y[n * C + c] = (s_s[c] - m) * r * g_s[c] + b_s[c];
    if (t == 0) stats[n - n0] = m, stats[kResidualLayerNormRows + n - n0] = r;
  }
  // the block's means and rstds in one coalesced store each, not one lane's store a row
  __syncthreads();
  if (t < n1 - n0) mean[n0 + t] = T(stats[t]), rstd[n0 + t] = T(stats[kResidualLayerNormRows + t]);
}

template <class T>
__global__ void residual_layernorm_backward_kernel(const T* dy, const T* s, const T* mean, const T* rstd,
                                                   const T* gamma, T* dx, T* dz, double* partial, int64_t N,
                                                   int64_t C, float p, T scale, uint64_t seed, uint64_t stream,
                                                   uint64_t offset) {
  __shared__ double scratch[kBlockThreads];
  __shared__ double stats[2 * kResidualLayerNormRows];  // the block's rows' mean, then rstd
  KISO_DYNAMIC_SHARED(double, shared);
  double* dg_s = shared;                       // (C,) this block's Σ dy·ŝ, per column
  double* db_s = dg_s + C;                     // (C,) this block's Σ dy
  T* gamma_s = reinterpret_cast<T*>(db_s + C);  // (C,) γ
  T* dy_s = gamma_s + C;                       // (C,) the row's dy
  T* s_s = dy_s + C;                           // (C,) the row's s
  auto add = [](double a, double b) { return a + b; };
  unsigned t = threadIdx.x;
  for (int64_t c = t; c < C; c += kBlockThreads) gamma_s[c] = gamma[c], dg_s[c] = 0, db_s[c] = 0;
  int64_t n0 = int64_t(blockIdx.x) * kResidualLayerNormRows, n1 = n0 + kResidualLayerNormRows < N ? n0 + kResidualLayerNormRows : N;
  // the block's means and rstds in one coalesced load each, not eight warps' loads a row
  if (t < n1 - n0) stats[t] = double(mean[n0 + t]), stats[kResidualLayerNormRows + t] = double(rstd[n0 + t]);
  __syncthreads();
  for (int64_t n = n0; n < n1; ++n) {
    T m = T(stats[n - n0]), r = T(stats[kResidualLayerNormRows + n - n0]);
    // pass 1: the row of dy and s to shared memory, the two row sums, this thread's columns of dγ and dβ
    double sg = 0, sgx = 0;
    for (int64_t c = t; c < C; c += kBlockThreads) {
      T d = dy[n * C + c], sv = s[n * C + c];
      dy_s[c] = d, s_s[c] = sv;
      T g = d * gamma_s[c], xhat = (sv - m) * r;
      sg += double(g), sgx += double(g * xhat);
      dg_s[c] += double(d * xhat), db_s[c] += double(d);
    }
    T mean_g = T(block_reduce(sg, scratch, add) / double(C));
    T mean_gx = T(block_reduce(sgx, scratch, add) / double(C));
    // pass 2: ds, which is dx, and dz = dropout(ds) with the forward's draws
    for (int64_t c = t; c < C; c += kBlockThreads) {
      int64_t i = n * C + c;
      // g and ŝ again from the row in shared memory, as layernorm.cu's dx kernel computes them
      T g = dy_s[c] * gamma_s[c], xhat = (s_s[c] - m) * r;
      T ds = r * (g - mean_g - xhat * mean_gx);
      dx[i] = ds;
      if (dz) dz[i] = kept(seed, stream, offset, uint64_t(i), p) ? ds * scale : T(0);
    }
  }
  int64_t blocks = gridDim.x;
  for (int64_t c = t; c < C; c += kBlockThreads) {
    partial[int64_t(blockIdx.x) * C + c] = dg_s[c];
    partial[(blocks + blockIdx.x) * C + c] = db_s[c];
  }
}

// One thread per column: the blocks' partial rows added in block order.
template <class T>
__global__ void residual_layernorm_params_kernel(const double* partial, T* dgamma, T* dbeta, int64_t blocks,
                                                 int64_t C) {
  int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double dg = 0, db = 0;
  for (int64_t k = 0; k < blocks; ++k) dg += partial[k * C + c], db += partial[(blocks + k) * C + c];
  dgamma[c] = T(dg), dbeta[c] = T(db);
}

}  // namespace

template <Target D, class T>
void residual_layernorm_forward(const T* x, const T* z, const T* gamma, const T* beta, T* y, T* s, T* mean, T* rstd,
                                int64_t N, int64_t C, double eps, double p, uint64_t seed, uint64_t stream,
                                uint64_t offset) {
  if (N == 0) return;
  size_t bytes = residual_layernorm_shared_bytes(C, sizeof(T), false);  // the caller checked it
  KISO_LAUNCH(residual_layernorm_forward_kernel<T>, dim3(unsigned(residual_layernorm_blocks(N))), dim3(kBlockThreads),
              bytes, x, z, gamma, beta, y, s, mean, rstd, N, C, eps, float(p), T(1.0 / (1.0 - p)), seed, stream,
              offset);
}
template decltype(residual_layernorm_forward<kTarget, float>) residual_layernorm_forward<kTarget, float>;
template decltype(residual_layernorm_forward<kTarget, double>) residual_layernorm_forward<kTarget, double>;

template <Target D, class T>
void residual_layernorm_backward(const T* dy, const T* s, const T* mean, const T* rstd, const T* gamma, T* dx, T* dz,
                                 double* partial, T* dgamma, T* dbeta, int64_t N, int64_t C, double p, uint64_t seed,
                                 uint64_t stream, uint64_t offset) {
  int64_t blocks = residual_layernorm_blocks(N);
  size_t bytes = residual_layernorm_shared_bytes(C, sizeof(T), true);
  if (N > 0)
    KISO_LAUNCH(residual_layernorm_backward_kernel<T>, dim3(unsigned(blocks)), dim3(kBlockThreads), bytes, dy, s, mean,
                rstd, gamma, dx, dz, partial, N, C, float(p), T(1.0 / (1.0 - p)), seed, stream, offset);
  KISO_LAUNCH(residual_layernorm_params_kernel<T>, blocks_for(C), dim3(kBlockThreads), 0, partial, dgamma, dbeta,
              blocks, C);
}
template decltype(residual_layernorm_backward<kTarget, float>) residual_layernorm_backward<kTarget, float>;
template decltype(residual_layernorm_backward<kTarget, double>) residual_layernorm_backward<kTarget, double>;

}  // namespace kiso::cuda
