// cuda/kernels.cpp — routes each call of cuda/kernels.h to the simulator's compilation of the
// kernels or the GPU's, after checking that there is a device. Host code, in every build.
#include "cuda/kernels.h"

#include "cuda/runtime.h"
#include "tensor/check.h"

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

}  // namespace kiso::cuda
