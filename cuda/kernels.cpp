// cuda/kernels.cpp — routes each call of cuda/kernels.h to the simulator's compilation of the
// kernels or the GPU's, after checking that there is a device. Host code, in every build.
#include "cuda/kernels.h"

#include "cuda/runtime.h"
#include "base/check.h"

namespace kiso::cuda {

// Calls target::name(args...) for the active device.
#ifdef KISO_CUDA
#define KISO_ROUTE(name, ...)                                                   \
  require_device(#name);                                                        \
  if (simulator_on()) return sim_kernels::name(__VA_ARGS__);                    \
  return gpu_kernels::name(__VA_ARGS__)
#else
#define KISO_ROUTE(name, ...)                 \
  require_device(#name);                      \
  return sim_kernels::name(__VA_ARGS__)
#endif

void binary(BinaryOp op, bool f64, const void* a, const void* b, void* out, int64_t n, const Broadcast& g) {
  KISO_ROUTE(binary, op, f64, a, b, out, n, g);
}

void unary(UnaryOp op, bool f64, const void* x, void* out, int64_t n, double s) {
  KISO_ROUTE(unary, op, f64, x, out, n, s);
}

void reduce_last(ReduceOp op, bool f64, const void* x, void* out, int64_t rows, int64_t cols) {
  KISO_ROUTE(reduce_last, op, f64, x, out, rows, cols);
}

void matmul(bool f64, const void* a, const void* b, void* c, int64_t batch, int64_t M, int64_t N, int64_t K,
            bool trans_a, bool trans_b) {
  KISO_ROUTE(matmul, f64, a, b, c, batch, M, N, K, trans_a, trans_b);
}

void softmax_forward(bool f64, const void* x, void* y, int64_t rows, int64_t cols, int64_t tq, bool causal) {
  KISO_ROUTE(softmax_forward, f64, x, y, rows, cols, tq, causal);
}

void softmax_backward(bool f64, const void* y, const void* dy, void* dx, int64_t rows, int64_t cols) {
  KISO_ROUTE(softmax_backward, f64, y, dy, dx, rows, cols);
}

void gelu(bool f64, const void* x, const void* dy, void* out, int64_t n, bool exact) {
  KISO_ROUTE(gelu, f64, x, dy, out, n, exact);
}

void layernorm_forward(bool f64, const void* x, const void* gamma, const void* beta, void* y, void* mean, void* rstd,
                       int64_t N, int64_t C, double eps) {
  KISO_ROUTE(layernorm_forward, f64, x, gamma, beta, y, mean, rstd, N, C, eps);
}

void layernorm_backward(bool f64, const void* dy, const void* x, const void* mean, const void* rstd,
                        const void* gamma, void* dx, void* dgamma, void* dbeta, int64_t N, int64_t C) {
  KISO_ROUTE(layernorm_backward, f64, dy, x, mean, rstd, gamma, dx, dgamma, dbeta, N, C);
}

void fill(Elem elem, void* out, int64_t n, double value) { KISO_ROUTE(fill, elem, out, n, value); }

void copy_2d(const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch, int64_t rows, int64_t width) {
  KISO_ROUTE(copy_2d, src, src_pitch, dst, dst_pitch, rows, width);
}

void permute(int words, const void* x, void* out, int64_t n, const Permute& g) {
  KISO_ROUTE(permute, words, x, out, n, g);
}

void sum_to(bool f64, const void* x, void* out, int64_t out_n, const SumTo& g) {
  KISO_ROUTE(sum_to, f64, x, out, out_n, g);
}

void embedding_forward(bool f64, const void* weight, const int32_t* ids, void* out, int64_t N, int64_t C) {
  KISO_ROUTE(embedding_forward, f64, weight, ids, out, N, C);
}

void embedding_backward(bool f64, const void* dout, const int32_t* order, const int32_t* starts, const int32_t* rows,
                        void* dweight, int64_t unique, int64_t C) {
  KISO_ROUTE(embedding_backward, f64, dout, order, starts, rows, dweight, unique, C);
}

void one_hot(bool f64, const int32_t* index, void* out, int64_t rows, int64_t n) {
  KISO_ROUTE(one_hot, f64, index, out, rows, n);
}

void cross_entropy_forward(bool f64, const void* logits, const int32_t* targets, double* row_loss, void* loss,
                           int64_t N, int64_t V, int64_t ignore_index, int64_t count) {
  KISO_ROUTE(cross_entropy_forward, f64, logits, targets, row_loss, loss, N, V, ignore_index, count);
}

void cross_entropy_backward(bool f64, const void* logits, const int32_t* targets, void* dlogits, int64_t N,
                            int64_t V, int64_t ignore_index, double scale) {
  KISO_ROUTE(cross_entropy_backward, f64, logits, targets, dlogits, N, V, ignore_index, scale);
}

void dropout(bool f64, const void* x, void* y, int64_t n, double p, uint64_t seed, uint64_t stream, uint64_t offset) {
  KISO_ROUTE(dropout, f64, x, y, n, p, seed, stream, offset);
}

void adamw(bool f64, void* param, const void* grad, void* m, void* v, int64_t n, const AdamWScalars& s) {
  KISO_ROUTE(adamw, f64, param, grad, m, v, n, s);
}

void sgd(bool f64, void* param, const void* grad, void* buf, int64_t n, double lr, double momentum,
         double weight_decay, bool first) {
  KISO_ROUTE(sgd, f64, param, grad, buf, n, lr, momentum, weight_decay, first);
}

void sum_of_squares_chunks(bool f64, const void* x, double* partial, int64_t n) {
  KISO_ROUTE(sum_of_squares_chunks, f64, x, partial, n);
}

}  // namespace kiso::cuda
