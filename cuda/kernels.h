// cuda/kernels.h — what the tensor library calls for Device::cuda data: one function per op
// family, device pointers in and out, run on the GPU or under the simulator, whichever
// cuda/runtime.h says is the device (cuda/kernels.cpp routes). Shapes arrive as plain numbers:
// nothing here knows Tensor. The kernels themselves are in cuda/kernels/*.cu, each file
// compiled twice, into the namespaces gpu_kernels (nvcc) and sim_kernels (g++ against cuda/sim).
#pragma once

#include <cstdint>

namespace kiso::cuda {

constexpr int kMaxRank = 8;

// ---- binary elementwise ops with broadcasting (cuda/kernels/elementwise.cu) ----

enum class BinaryOp { add, sub, mul, div };

// The output's shape `size` (row-major, `rank` axes) and, per input, the element stride of each
// axis: 0 along an axis the input is broadcast over (what the CPU's broadcast_strides gives).
struct Broadcast {
  int rank = 0;
  int64_t size[kMaxRank] = {};
  int64_t stride_a[kMaxRank] = {};
  int64_t stride_b[kMaxRank] = {};
};

// out[i] = a[ia] op b[ib] for the n = Π size output elements; f64 or f32 data.
void binary(BinaryOp op, bool f64, const void* a, const void* b, void* out, int64_t n, const Broadcast& g);

// ---- unary elementwise ops and ops with a scalar (cuda/kernels/unary.cu) ----

// add_scalar and mul_scalar compute in double, then round, as the CPU ops do; pow raises to s.
enum class UnaryOp { add_scalar, mul_scalar, neg, exp, log, tanh, sqrt, rsqrt, erf, pow };

// out[i] = op(x[i]) (with the scalar s where the op takes one), n elements of f64 or f32.
void unary(UnaryOp op, bool f64, const void* x, void* out, int64_t n, double s);

// ---- reductions over the last axis (cuda/kernels/reduce.cu) ----

// (rows, cols) -> (rows,): sum (accumulated in double, as on the CPU), max, or argmax (i32, the
// first index of the maximum). One block per row.
enum class ReduceOp { sum, max, argmax };
void reduce_last(ReduceOp op, bool f64, const void* x, void* out, int64_t rows, int64_t cols);

// ---- matrix multiply (cuda/kernels/matmul.cu) ----

// c[i] = op(a[i]) · op(b[i]) for each of `batch` products, op = transpose when trans_*:
// a is (M, K) or, transposed, (K, M); b is (K, N) or (N, K); c is (M, N); row-major, f32 or f64.
void matmul(bool f64, const void* a, const void* b, void* c, int64_t batch, int64_t M, int64_t N, int64_t K,
            bool trans_a, bool trans_b);

// ---- softmax over the last axis (cuda/kernels/softmax.cu) ----

// (rows, cols) row-major. causal: the rows are queries of (tq, cols) score blocks and key j is
// hidden from query i (= row % tq) when j > i + cols - tq; hidden probabilities are exactly 0.
void softmax_forward(bool f64, const void* x, void* y, int64_t rows, int64_t cols, int64_t tq, bool causal);
// dx = y · (dy - Σ_row dy·y), from the saved output y.
void softmax_backward(bool f64, const void* y, const void* dy, void* dx, int64_t rows, int64_t cols);

// ---- GELU (cuda/kernels/gelu.cu) ----

// dy == nullptr: out = gelu(x); otherwise out = dy · gelu'(x). exact: the erf form; otherwise
// the tanh approximation GPT-1 uses. n elements, f32 or f64.
void gelu(bool f64, const void* x, const void* dy, void* out, int64_t n, bool exact);

// ---- layer normalisation over the last axis (cuda/kernels/layernorm.cu) ----

// x, y: (N, C); gamma, beta, dgamma, dbeta: (C,); mean, rstd: (N,). f32 or f64.
void layernorm_forward(bool f64, const void* x, const void* gamma, const void* beta, void* y, void* mean, void* rstd,
                       int64_t N, int64_t C, double eps);
void layernorm_backward(bool f64, const void* dy, const void* x, const void* mean, const void* rstd,
                        const void* gamma, void* dx, void* dgamma, void* dbeta, int64_t N, int64_t C);

// The same list, once per target.
#define KISO_CUDA_KERNEL_DECLARATIONS                                                                     \
  void binary(BinaryOp op, bool f64, const void* a, const void* b, void* out, int64_t n, const Broadcast& g); \
  void unary(UnaryOp op, bool f64, const void* x, void* out, int64_t n, double s);                       \
  void reduce_last(ReduceOp op, bool f64, const void* x, void* out, int64_t rows, int64_t cols);          \
  void matmul(bool f64, const void* a, const void* b, void* c, int64_t batch, int64_t M, int64_t N, int64_t K,  \
              bool trans_a, bool trans_b);                                                                  \
  void softmax_forward(bool f64, const void* x, void* y, int64_t rows, int64_t cols, int64_t tq, bool causal);   \
  void softmax_backward(bool f64, const void* y, const void* dy, void* dx, int64_t rows, int64_t cols);          \
  void gelu(bool f64, const void* x, const void* dy, void* out, int64_t n, bool exact);                          \
  void layernorm_forward(bool f64, const void* x, const void* gamma, const void* beta, void* y, void* mean,       \
                         void* rstd, int64_t N, int64_t C, double eps);                                           \
  void layernorm_backward(bool f64, const void* dy, const void* x, const void* mean, const void* rstd,            \
                          const void* gamma, void* dx, void* dgamma, void* dbeta, int64_t N, int64_t C);
namespace gpu_kernels {
KISO_CUDA_KERNEL_DECLARATIONS
}
namespace sim_kernels {
KISO_CUDA_KERNEL_DECLARATIONS
}
#undef KISO_CUDA_KERNEL_DECLARATIONS

}  // namespace kiso::cuda
