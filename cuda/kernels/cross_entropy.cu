// cuda/kernels/cross_entropy.cu — cross-entropy from logits, fused with the softmax, forward and
// backward, f32 and f64: one block of 256 threads per row. Compiled by nvcc for the GPU and by
// g++ for the simulator (see cuda/kernels.h); tensor/ops_nn.cpp's loops are the oracle.
//
//   m = max_j x_j,  log_s = log Σ_j exp(x_j - m)          (logsumexp = m + log_s, no overflow)
//   both from one read of the row (row_logsumexp: an online max and sum)
//   forward:  loss = 1/count Σ_{n kept} (log_s_n - (x_{n,t_n} - m_n))
//   backward: dlogits_n = dloss/count · (exp((x_n - m_n) - log_s_n) - onehot(t_n)), 0 on ignored rows
//
// The forward writes one loss per row, then a single block adds them in a fixed tree order:
// the result does not depend on timing (no atomics). The backward may write dlogits over the
// logits (tensor/ops.h's in_place): each thread reads its own elements before it writes them,
// and the row's max and sum are complete (block_reduce's barriers) before the first write.
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {
namespace {

// m and log_s of one row, in double, computed by the whole block (every thread gets them), reading
// the row once: each thread keeps a running max m_t and a sum s_t = Σ exp(x - m_t) over its
// columns, rescaling s_t by exp(m_t - x) when a larger x arrives (the online softmax of Milakov
// and Gimelshein, 2018); the block then takes M = max_t m_t and Σ_t s_t·exp(m_t - M).
// (It read the row twice before, max then sum: V·sizeof(T) more bytes a row from global memory.)
template <class T> __device__ void row_logsumexp(const T* x, int64_t V, double* scratch, double& m, double& log_s) {
  double m_t = -INFINITY, s_t = 0;
  for (int64_t c = threadIdx.x; c < V; c += kBlockThreads) {
    double v = double(x[c]);
    if (v > m_t) s_t = s_t * std::exp(m_t - v) + 1, m_t = v;  // exp(-inf) = 0 on the first
    else if (v != -INFINITY) s_t += std::exp(v - m_t);       // a NaN goes in, and out as the loss
  }
  m = block_reduce(m_t, scratch, [](double a, double b) { return a < b ? b : a; });
  double s = m_t == -INFINITY ? 0 : s_t * std::exp(m_t - m);  // a thread with no finite column adds 0
  log_s = std::log(block_reduce(s, scratch, [](double a, double b) { return a + b; }));
}

template <class T>
__global__ void cross_entropy_rows_kernel(const T* logits, const int32_t* targets, double* row_loss, int64_t V,
                                          int64_t ignore_index) {
  __shared__ double scratch[kBlockThreads];
  int64_t n = blockIdx.x;
  int32_t t = targets[n];
  if (t == ignore_index) {  // the whole block leaves together: no barrier is left half-met
    if (threadIdx.x == 0) row_loss[n] = 0;
    return;
  }
  const T* x = logits + n * V;
  double m, log_s;
  row_logsumexp(x, V, scratch, m, log_s);
  if (threadIdx.x == 0) row_loss[n] = log_s - (double(x[t]) - m);
}

// One block: thread k adds rows k, k + 256, ...; the tree adds the 256 partial sums.
template <class T>
__global__ void cross_entropy_total_kernel(const double* row_loss, T* loss, int64_t N, int64_t count) {
  __shared__ double scratch[kBlockThreads];
  double s = 0;
  for (int64_t n = threadIdx.x; n < N; n += kBlockThreads) s += row_loss[n];
  s = block_reduce(s, scratch, [](double a, double b) { return a + b; });
  if (threadIdx.x == 0) *loss = T(count ? s / double(count) : 0.0);
}

template <class T>
__global__ void cross_entropy_backward_kernel(const T* logits, const int32_t* targets, const T* dloss, T* dlogits,
                                              int64_t V, int64_t ignore_index, int64_t count) {
  __shared__ double scratch[kBlockThreads];
  int64_t n = blockIdx.x;
  double scale = count ? double(dloss[0]) / double(count) : 0.0;  // what the host computed before
  int32_t t = targets[n];
  T* d = dlogits + n * V;
  if (t == ignore_index) {
    for (int64_t c = threadIdx.x; c < V; c += kBlockThreads) d[c] = T(0);
    return;
  }
  const T* x = logits + n * V;
  double m, log_s;
  row_logsumexp(x, V, scratch, m, log_s);
  for (int64_t c = threadIdx.x; c < V; c += kBlockThreads)
    d[c] = T(scale * (std::exp((double(x[c]) - m) - log_s) - (c == t ? 1.0 : 0.0)));
}

}  // namespace

template <Target D, class T>
void cross_entropy_forward(const T* logits, const int32_t* targets, double* row_loss, T* loss, int64_t N, int64_t V,
                           int64_t ignore_index, int64_t count) {
  if (N > 0)
    KISO_LAUNCH(cross_entropy_rows_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, logits, targets, row_loss, V,
                ignore_index);
  KISO_LAUNCH(cross_entropy_total_kernel<T>, dim3(1), dim3(kBlockThreads), 0, row_loss, loss, N, count);
}
template decltype(cross_entropy_forward<kTarget, float>) cross_entropy_forward<kTarget, float>;
template decltype(cross_entropy_forward<kTarget, double>) cross_entropy_forward<kTarget, double>;

template <Target D, class T>
void cross_entropy_backward(const T* logits, const int32_t* targets, const T* dloss, T* dlogits, int64_t N, int64_t V,
                            int64_t ignore_index, int64_t count) {
  if (N == 0) return;
  KISO_LAUNCH(cross_entropy_backward_kernel<T>, dim3(unsigned(N)), dim3(kBlockThreads), 0, logits, targets, dloss,
              dlogits, V, ignore_index, count);
}
template decltype(cross_entropy_backward<kTarget, float>) cross_entropy_backward<kTarget, float>;
template decltype(cross_entropy_backward<kTarget, double>) cross_entropy_backward<kTarget, double>;

}  // namespace kiso::cuda
