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

// ---- moving numbers: fill, strided copies, permute (cuda/kernels/copy.cu) ----

// Element types a copy or fill may see; f32 and i32 are one 32-bit word, f64 two.
enum class Elem { f32, f64, i32 };

// out[i] = value (converted to `elem`) for i < n.
void fill(Elem elem, void* out, int64_t n, double value);
// A 2-D copy in 32-bit words: rows of `width` words, row r read at src + r·src_pitch and
// written at dst + r·dst_pitch. concat, slice and slice_backward are each such a copy.
void copy_2d(const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch, int64_t rows, int64_t width);
// out (row-major, `rank` axes of out_size) read from x through in_stride, x's element stride for
// each output axis; elements of `words` 32-bit words (1 or 2). n = Π out_size.
struct Permute {
  int rank = 0;
  int64_t out_size[kMaxRank] = {};
  int64_t in_stride[kMaxRank] = {};
};
void permute(int words, const void* x, void* out, int64_t n, const Permute& g);

// ---- reductions over broadcast axes (cuda/kernels/reduce.cu) ----

// The backward of broadcasting: out (x's shape with size 1 along every axis where `reduced`)
// [o] = Σ of x over the reduced axes, added in x's order, in T (as the CPU's sum_to).
struct SumTo {
  int rank = 0;
  int64_t x_size[kMaxRank] = {};
  bool reduced[kMaxRank] = {};
};
void sum_to(bool f64, const void* x, void* out, int64_t out_n, const SumTo& g);

// ---- embedding and one-hot (cuda/kernels/embedding.cu) ----

// out (N, C) = rows ids[n] of weight (V, C); ids i32 (N,), already checked to lie in [0, V).
void embedding_forward(bool f64, const void* weight, const int32_t* ids, void* out, int64_t N, int64_t C);
// dweight (V, C) must be zeros. The positions are given grouped by id (a counting sort the
// host does): for unique id u = rows[u], positions order[starts[u]] .. order[starts[u+1] - 1],
// increasing. dweight[rows[u]] = Σ dout[position] added in that order: no atomics, so the
// result is the same every run and equals the CPU's.
void embedding_backward(bool f64, const void* dout, const int32_t* order, const int32_t* starts, const int32_t* rows,
                        void* dweight, int64_t unique, int64_t C);
// out (rows, n) = 1 where column == index[row], else 0; index i32 (rows,).
void one_hot(bool f64, const int32_t* index, void* out, int64_t rows, int64_t n);

// ---- cross-entropy from logits (cuda/kernels/cross_entropy.cu) ----

// logits (N, V), targets i32 (N,); `count` rows have a target != ignore_index (counted and
// range-checked by the host); row_loss is scratch of N doubles. loss (one T) = Σ_n row loss / count,
// 0 when count is 0.
void cross_entropy_forward(bool f64, const void* logits, const int32_t* targets, double* row_loss, void* loss,
                           int64_t N, int64_t V, int64_t ignore_index, int64_t count);
// dlogits (N, V) = dloss/count · (softmax(logits) - onehot(target)), 0 on ignored rows.
void cross_entropy_backward(bool f64, const void* logits, const int32_t* targets, void* dlogits, int64_t N,
                            int64_t V, int64_t ignore_index, double scale);

// ---- dropout (cuda/kernels/dropout.cu) ----

// y = x · keep / (1 - p), keep_i = uniform(draw offset + i of Philox (seed, stream)) >= p: the
// CPU's draws (base/philox.h), so the masks are the same on both devices.
void dropout(bool f64, const void* x, void* y, int64_t n, double p, uint64_t seed, uint64_t stream, uint64_t offset);

// ---- optimizer updates (cuda/kernels/optim.cu) ----

// The per-element arithmetic of tensor/ops_optim.cpp's adamw_update and sgd_update, in double,
// in place. The scalars are the ones the host derives from the hyper-parameters.
struct AdamWScalars {
  double decay, beta1, beta2, eps, step_size, bias_correction2_sqrt;
};
void adamw(bool f64, void* param, const void* grad, void* m, void* v, int64_t n, const AdamWScalars& s);
// buf == nullptr: no momentum. first: buf is set to the decayed gradient.
void sgd(bool f64, void* param, const void* grad, void* buf, int64_t n, double lr, double momentum,
         double weight_decay, bool first);
// partial[k] = Σ x² over elements [4096 k, 4096 (k+1)), in double, in order: chunks of the
// CPU's deterministic_sum, so the host adding the partials in order gets the CPU's result.
constexpr int64_t kSumChunk = 4096;
void sum_of_squares_chunks(bool f64, const void* x, double* partial, int64_t n);

// The same list, once per target.
#define KISO_CUDA_KERNEL_DECLARATIONS                                                                                  \
  void binary(BinaryOp op, bool f64, const void* a, const void* b, void* out, int64_t n, const Broadcast& g);          \
  void unary(UnaryOp op, bool f64, const void* x, void* out, int64_t n, double s);                                     \
  void reduce_last(ReduceOp op, bool f64, const void* x, void* out, int64_t rows, int64_t cols);                       \
  void matmul(bool f64, const void* a, const void* b, void* c, int64_t batch, int64_t M, int64_t N, int64_t K,         \
              bool trans_a, bool trans_b);                                                                             \
  void softmax_forward(bool f64, const void* x, void* y, int64_t rows, int64_t cols, int64_t tq, bool causal);         \
  void softmax_backward(bool f64, const void* y, const void* dy, void* dx, int64_t rows, int64_t cols);                \
  void gelu(bool f64, const void* x, const void* dy, void* out, int64_t n, bool exact);                                \
  void layernorm_forward(bool f64, const void* x, const void* gamma, const void* beta, void* y, void* mean,            \
                         void* rstd, int64_t N, int64_t C, double eps);                                                \
  void layernorm_backward(bool f64, const void* dy, const void* x, const void* mean, const void* rstd,                 \
                          const void* gamma, void* dx, void* dgamma, void* dbeta, int64_t N, int64_t C);               \
  void fill(Elem elem, void* out, int64_t n, double value);                                                            \
  void copy_2d(const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch, int64_t rows, int64_t width);         \
  void permute(int words, const void* x, void* out, int64_t n, const Permute& g);                                      \
  void sum_to(bool f64, const void* x, void* out, int64_t out_n, const SumTo& g);                                      \
  void embedding_forward(bool f64, const void* weight, const int32_t* ids, void* out, int64_t N, int64_t C);           \
  void embedding_backward(bool f64, const void* dout, const int32_t* order, const int32_t* starts,                     \
                          const int32_t* rows, void* dweight, int64_t unique, int64_t C);                              \
  void one_hot(bool f64, const int32_t* index, void* out, int64_t rows, int64_t n);                                    \
  void cross_entropy_forward(bool f64, const void* logits, const int32_t* targets, double* row_loss, void* loss,       \
                             int64_t N, int64_t V, int64_t ignore_index, int64_t count);                               \
  void cross_entropy_backward(bool f64, const void* logits, const int32_t* targets, void* dlogits, int64_t N,          \
                              int64_t V, int64_t ignore_index, double scale);                                          \
  void dropout(bool f64, const void* x, void* y, int64_t n, double p, uint64_t seed, uint64_t stream,                  \
               uint64_t offset);                                                                                       \
  void adamw(bool f64, void* param, const void* grad, void* m, void* v, int64_t n, const AdamWScalars& s);             \
  void sgd(bool f64, void* param, const void* grad, void* buf, int64_t n, double lr, double momentum,                  \
           double weight_decay, bool first);                                                                           \
  void sum_of_squares_chunks(bool f64, const void* x, double* partial, int64_t n);
namespace gpu_kernels {
KISO_CUDA_KERNEL_DECLARATIONS
}
namespace sim_kernels {
KISO_CUDA_KERNEL_DECLARATIONS
}
#undef KISO_CUDA_KERNEL_DECLARATIONS

}  // namespace kiso::cuda
