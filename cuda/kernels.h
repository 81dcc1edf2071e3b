// cuda/kernels.h — the kernels tensor/ runs on Device::cuda data, each launcher declared once,
// here, with the shapes it takes. Device pointers and plain sizes in: nothing here knows Tensor.
//
// Every launcher is a template over
//   D  the target that runs it (below): the simulator or the GPU;
//   T  the scalar type, float or double (fill also takes int32_t; the copies take the element
//      as a 32- or 64-bit word W instead, as they never read it as a number).
// A call names the target and lets T follow from the pointers: cuda::gelu_forward<D>(x, y, n,
// exact). with_target picks D for the device in use. The definitions are in cuda/kernels/*.cu,
// one file per op family, each compiled once per target, where each launcher is instantiated
// for that target and float and double.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/runtime.h"

namespace kiso::cuda {

// The two compilations of cuda/kernels/*.cu: by g++ against the host-side simulator cuda/sim
// (every build), and by nvcc for the GPU (CUDA builds only).
enum class Target { sim, gpu };

// Runs launch.template operator()<D>() with D the target that runs Device::cuda work now: the
// simulator when it is on (cuda/runtime.h), else the GPU. Throws, naming `op`, when there is
// neither. A CPU-only build has no GPU kernels, so nothing here may name them there.
template <class Launch> void with_target(const char* op, Launch&& launch) {
  require_device(op);
#ifdef KISO_CUDA
  if (!simulator_on()) return launch.template operator()<Target::gpu>();
#endif
  launch.template operator()<Target::sim>();
}

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

// out (n,) with n = Π g.size: out[i] = a[ia] op b[ib], a and b read through g's strides.
template <Target D, class T> void binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const Broadcast& g);

// ---- unary elementwise ops and ops with a scalar (cuda/kernels/unary.cu) ----

// add_scalar and mul_scalar compute in double, then round, as the CPU ops do; pow raises to s.
enum class UnaryOp { add_scalar, mul_scalar, neg, exp, log, tanh, sqrt, rsqrt, erf, pow };

// x, out: (n,). out[i] = op(x[i]), with the scalar s where the op takes one.
template <Target D, class T> void unary(UnaryOp op, const T* x, T* out, int64_t n, double s);

// ---- reductions (cuda/kernels/reduce.cu) ----

enum class ReduceOp { sum, max };

// x (N, C) -> out (N,): the sum of each row (accumulated in double, as on the CPU) or its
// maximum. One block per row.
template <Target D, class T> void reduce_last(ReduceOp op, const T* x, T* out, int64_t N, int64_t C);
// x (N, C) -> out (N,) i32: the index of the first maximum of each row. One block per row.
template <Target D, class T> void argmax_last(const T* x, int32_t* out, int64_t N, int64_t C);

// The backward of broadcasting: out (x's shape with size 1 along every axis where `reduced`)
// [o] = Σ of x over the reduced axes, added in x's order, in T (as the CPU's sum_to).
struct SumTo {
  int rank = 0;
  int64_t x_size[kMaxRank] = {};
  bool reduced[kMaxRank] = {};
};
// x: Π g.x_size elements; out: (out_n,).
template <Target D, class T> void sum_to(const T* x, T* out, int64_t out_n, const SumTo& g);

// ---- matrix multiply: the ladder (cuda/kernels/matmul*.cu, docs/kernels.md) ----
//
// Every rung computes the same product:
//   c[i] = op(a[i]) · op(b[i]) for each of `batch` products, op = transpose when trans_*:
//   a (batch, M, K), or transposed (batch, K, M); b (batch, K, N) or (batch, N, K); c (batch, M, N).
// Any M, N, K >= 1 (not only tile multiples). The rungs, in the order of the ladder, each a small
// step from the one before (the header of each file says what the step is and what it buys):
enum class MatmulRung {
  naive,         // matmul_1_naive.cu: a thread per element of c, straight from global memory
  coalesced,     // matmul_2_coalesced.cu: the same, threads of a warp along a row of c
  tiled,         // matmul_3_tiled.cu: shared-memory tiles of a and b
  blocktile_1d,  // matmul_4_blocktile_1d.cu: each thread computes a column of results
  blocktile_2d,  // matmul_5_blocktile_2d.cu: each thread computes a small 2-D block of results
  vectorized,    // matmul_6_vectorized.cu: 128-bit loads and stores
  warptile,      // matmul_7_warptile.cu: a warp owns a sub-tile; the SIMT top rung
  mma_tf32,      // matmul_8_mma.cu: tensor cores (mma.sync), inputs rounded to TF32, f32 sums
  mma_bf16,      // matmul_8_mma.cu: tensor cores (mma.sync), inputs rounded to BF16, f32 sums
};
inline constexpr MatmulRung kMatmulRungs[] = {
    MatmulRung::naive,      MatmulRung::coalesced, MatmulRung::tiled,    MatmulRung::blocktile_1d,
    MatmulRung::blocktile_2d, MatmulRung::vectorized, MatmulRung::warptile, MatmulRung::mma_tf32,
    MatmulRung::mma_bf16};

// The name KISO_MATMUL and the benchmark use ("naive", "blocktile_2d", "mma_bf16", ...), and back:
// an unknown name is an Error "<what>: no matmul rung named 'x'; expected one of naive, ...".
const char* matmul_rung_name(MatmulRung rung);
MatmulRung matmul_rung_named(const char* name, const char* what);
// Whether the rung computes in T's own precision (every product and sum in f32 for float), as
// the CPU does; the tensor-core rungs round their inputs first.
bool matmul_rung_exact(MatmulRung rung);
// Whether the rung has a double version (the tensor-core rungs are float only).
bool matmul_rung_serves_double(MatmulRung rung);

// The rung the model's matmuls run (cuda/matmul_rungs.cpp): the one set_matmul_rung chose, else
// KISO_MATMUL's (a name above; an unknown name is an Error listing them), else the fastest exact
// rung. A rung without a double version runs `tiled` for double.
MatmulRung matmul_rung_in_use(bool is_double);
// Chooses the rung of every later matmul (tests, the benchmark); reset_matmul_rung undoes it.
void set_matmul_rung(MatmulRung rung);
void reset_matmul_rung();
// Whether a rung was chosen by hand (set_matmul_rung or KISO_MATMUL) rather than by default.
bool matmul_rung_chosen();

// [[noreturn]]: an Error naming the rung, for a T it has no version of.
[[noreturn]] void matmul_rung_refused(MatmulRung rung, const char* type);
// [[noreturn]]: an Error for a product with more tiles of c than a launch's grid.x holds (2^31 - 1).
[[noreturn]] void matmul_grid_refused(int64_t tiles, int64_t M, int64_t N);

// The epilogue: what a linear layer does to the product before it is stored, so that the
// product, its bias and its GELU take one launch instead of three (matmul, broadcast add, gelu).
// For each element c[z, i, j] of the product:
//   h = c + bias[j]                   (bias null: h = c, bit for bit)
//   h = round_bf16(h)                 when round_pre_bf16 (T = float only): BF16 mixed precision's
//                                     bf16_activation of the MLP's hidden layer (tensor/precision.h)
//   gelu: pre[z, i, j] = h, c = gelu(h)   (pre is what GELU's backward reads: the forward writes
//                                     h and gelu(h) in one launch)
//   else: c = h
// Epilogue<T>{} is the plain product. The device side is cuda/kernels/epilogue.h.
template <class T> struct Epilogue {
  const T* bias = nullptr;      // (N,): the same for every row of every product, or none
  bool gelu = false;            // apply GELU after the bias
  bool exact = false;           // the erf GELU; else the tanh form GPT-1 uses
  T* pre = nullptr;             // (batch, M, N), written when gelu
  bool round_pre_bf16 = false;  // round h to bf16 before it is stored and activated
};

// One launcher per rung (cuda/kernels/matmul_<n>_<rung>.cu), with matmul's arguments (the macro
// spells them once for the declarations here and the definitions there). The rungs the model
// runs (tiled for f64, warptile for f32, the two tensor-core rungs) take an epilogue too, which
// they apply as they store c; the others store the plain product.
#define KISO_MATMUL_ARGS \
  const T *a, const T *b, T *c, int64_t batch, int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b
template <Target D, class T> void matmul_naive(KISO_MATMUL_ARGS);
template <Target D, class T> void matmul_coalesced(KISO_MATMUL_ARGS);
template <Target D, class T> void matmul_tiled(KISO_MATMUL_ARGS, const Epilogue<T>& ep = {});
template <Target D, class T> void matmul_blocktile_1d(KISO_MATMUL_ARGS);
template <Target D, class T> void matmul_blocktile_2d(KISO_MATMUL_ARGS);
template <Target D, class T> void matmul_vectorized(KISO_MATMUL_ARGS);
template <Target D, class T> void matmul_warptile(KISO_MATMUL_ARGS, const Epilogue<T>& ep = {});
template <Target D, class T> void matmul_mma_tf32(KISO_MATMUL_ARGS, const Epilogue<T>& ep = {});  // T = float only
template <Target D, class T> void matmul_mma_bf16(KISO_MATMUL_ARGS, const Epilogue<T>& ep = {});  // T = float only

// The product with a chosen rung (cuda/kernels/matmul.cu); an Error for double on a float-only rung.
template <Target D, class T> void matmul_rung(MatmulRung rung, KISO_MATMUL_ARGS);
// The product the model runs: matmul_rung with matmul_rung_in_use().
template <Target D, class T> void matmul(KISO_MATMUL_ARGS);

// The product with an epilogue (cuda/kernels/matmul_epilogue.cu): the rungs above that take one
// apply it in their own launch; every other rung stores its product, then one epilogue_pass
// applies bias, rounding and GELU together (two launches, still one pass over c instead of two).
template <Target D, class T> void matmul_epilogue(MatmulRung rung, KISO_MATMUL_ARGS, const Epilogue<T>& ep);
// c (rows, N), in place: the epilogue applied to a stored product, a thread per element.
template <Target D, class T> void epilogue_pass(T* c, int64_t rows, int64_t N, const Epilogue<T>& ep);

// The backward of the epilogue, one launch: dy, pre, dh: (rows, N); dbias: (N,).
//   dh = dy · gelu'(pre)            (pre null: no GELU, dh = dy itself and is not written)
//   dbias[j] = Σ_i dh[i, j]         the bias gradient, a deterministic column sum (no atomics):
//     row i goes to lane i mod kBiasGradLanes of its column, each lane adds its rows in order,
//     then the lanes are added in order 0, 1, ..., 7 — the order the CPU's bias_gelu_backward
//     (tensor/ops_linear.cpp) adds in too. A block is 32 columns x 8 lanes.
constexpr int kBiasGradLanes = 8;
template <Target D, class T>
void bias_gelu_backward(const T* dy, const T* pre, T* dh, T* dbias, int64_t rows, int64_t N, bool exact);

// ---- bf16 conversions (cuda/kernels/convert.cu) ----

// x, y: (n,) f32. y[i] = x[i] rounded to the nearest bf16, ties to even, widened back to f32
// (base/bf16.h round_bf16, the same function the CPU op calls). y may be x (in place).
template <Target D> void round_bf16(const float* x, float* y, int64_t n);
// x (n,) f32 -> y (n,) the bits of to_bf16(x): packed 2-byte bf16, what cuBLAS's BF16 GEMM reads
// in `kiso bench --op matmul` (kiso's own tensors keep bf16 values in f32).
template <Target D> void bf16_buffer(const float* x, uint16_t* y, int64_t n);

// ---- softmax over the last axis (cuda/kernels/softmax.cu) ----

// x, y: (N, Tk), N rows of scores over Tk keys. causal: the rows are queries of (Tq, Tk) blocks
// and key j is hidden from query i (= row % Tq) when j > i + Tk - Tq; hidden probabilities are
// exactly 0.
template <Target D, class T> void softmax_forward(const T* x, T* y, int64_t N, int64_t Tk, int64_t Tq, bool causal);
// y, dy, dx: (N, Tk). dx = y · (dy - Σ_row dy·y), from the saved output y.
template <Target D, class T> void softmax_backward(const T* y, const T* dy, T* dx, int64_t N, int64_t Tk);

// ---- attention without the T×T matrix: FlashAttention-2 (cuda/kernels/attention.cu) ----
// The sizes of one call: qkv (B, T, 3C) with C = NH·HS, HS <= 128.
struct AttentionShape {
  int64_t B, T, NH, HS;
};
// Dropout on the (B·NH, T, T) probabilities, as dropout(att, p, state) draws it: element
// (bh, i, j) is kept iff draw offset + (bh·T + i)·T + j of Philox (seed, stream) is >= p.
struct AttentionDropout {
  double p = 0;
  uint64_t seed = 0, stream = 0, offset = 0;
};
// Causal attention of every head: qkv (B, T, 3C) -> y (B, T, C) (head h in columns h·HS..) and
// lse (B·NH, T), each row's logsumexp of the scaled scores (what the backward recomputes P
// from). bf16 (float only): the products read bf16-rounded inputs (tensor/precision.h).
template <Target D, class T>
void attention_flash_forward(const T* qkv, T* y, T* lse, const AttentionShape& s, const AttentionDropout& drop,
                             bool bf16);
// dqkv (B, T, 3C), every element written (no zeroing needed), from dy, y (B, T, C), qkv and lse
// (the forward's, with the same dropout). D_scratch (B·NH, T) receives rowsum(dy ∘ y).
// Deterministic: no atomics, each sum in a fixed order.
template <Target D, class T>
void attention_flash_backward(const T* dy, const T* qkv, const T* y, const T* lse, T* D_scratch, T* dqkv,
                              const AttentionShape& s, const AttentionDropout& drop, bool bf16);

// ---- GELU (cuda/kernels/gelu.cu) ----

// x, y: (n,). y = gelu(x); exact: the erf form, otherwise the tanh approximation GPT-1 uses.
template <Target D, class T> void gelu_forward(const T* x, T* y, int64_t n, bool exact);
// x, dy, dx: (n,). dx = dy · gelu'(x).
template <Target D, class T> void gelu_backward(const T* x, const T* dy, T* dx, int64_t n, bool exact);

// ---- layer normalisation over the last axis (cuda/kernels/layernorm.cu) ----

// x, y: (N, C); gamma, beta: (C,); mean, rstd: (N,) written for the backward.
template <Target D, class T>
void layernorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, int64_t N, int64_t C,
                       double eps);
// dy, x, dx: (N, C); mean, rstd: (N,) from the forward; gamma, dgamma, dbeta: (C,).
template <Target D, class T>
void layernorm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,
                        T* dbeta, int64_t N, int64_t C);

// ---- residual add + dropout + layernorm, fused (cuda/kernels/residual_layernorm.cu) ----

// Rows one block takes, in both directions: gamma and beta are read once a block, and the
// backward's column sums have one partial row per block.
constexpr int64_t kResidualLayerNormRows = 32;
inline int64_t residual_layernorm_blocks(int64_t N) { return (N + kResidualLayerNormRows - 1) / kResidualLayerNormRows; }
// Shared memory a block takes (γ, β and the row; backward: γ, dy, s and two double column sums),
// for elements of `element` bytes; it must not pass the 48 KiB a block has without opting in.
constexpr size_t kResidualLayerNormMaxShared = 48 * 1024;
inline size_t residual_layernorm_shared_bytes(int64_t C, size_t element, bool backward) {
  return size_t(C) * (backward ? 2 * sizeof(double) + 3 * element : 3 * element);
}
// x, z, y, s: (N, C); gamma, beta: (C,); mean, rstd: (N,). s = x + dropout(z), element
// i = n·C + c kept with draw offset + i of Philox (seed, stream) as dropout() keeps it (p may be
// 0); y = layernorm(s). The numbers of dropout, add and layernorm_forward, in one pass.
template <Target D, class T>
void residual_layernorm_forward(const T* x, const T* z, const T* gamma, const T* beta, T* y, T* s, T* mean, T* rstd,
                                int64_t N, int64_t C, double eps, double p, uint64_t seed, uint64_t stream,
                                uint64_t offset);
// dy, s, dx, dz: (N, C); mean, rstd: (N,); gamma, dgamma, dbeta: (C,). dx = ds (layernorm's
// dx at s), dz = dropout(ds) with the forward's draws (dz may be null when p is 0: dz is dx);
// partial: (2·residual_layernorm_blocks(N), C) doubles of scratch for the column sums.
template <Target D, class T>
void residual_layernorm_backward(const T* dy, const T* s, const T* mean, const T* rstd, const T* gamma, T* dx, T* dz,
                                 double* partial, T* dgamma, T* dbeta, int64_t N, int64_t C, double p, uint64_t seed,
                                 uint64_t stream, uint64_t offset);

// ---- moving numbers: fill, strided copies, permute (cuda/kernels/copy.cu) ----

// out: (n,). out[i] = value. T is float, double or int32_t.
template <Target D, class T> void fill(T* out, int64_t n, T value);
// A 2-D copy of elements held as words W (uint32_t for f32 and i32, uint64_t for f64): rows of
// `width` elements, row r read at src + r·src_pitch and written at dst + r·dst_pitch. concat,
// slice and slice_backward are each such a copy.
template <Target D, class W>
void copy_2d(const W* src, int64_t src_pitch, W* dst, int64_t dst_pitch, int64_t rows, int64_t width);
// out (row-major, `rank` axes of out_size) read from x through in_stride, x's element stride for
// each output axis. n = Π out_size elements, each a word W as for copy_2d.
struct Permute {
  int rank = 0;
  int64_t out_size[kMaxRank] = {};
  int64_t in_stride[kMaxRank] = {};
};
template <Target D, class W> void permute(const W* x, W* out, int64_t n, const Permute& g);

// ---- embedding and one-hot (cuda/kernels/embedding.cu) ----

// weight (V, C), ids (N,) already checked to lie in [0, V) -> out (N, C) = rows ids[n] of weight.
template <Target D, class T> void embedding_forward(const T* weight, const int32_t* ids, T* out, int64_t N, int64_t C);
// dweight (V, C) = for each v, Σ dout[n] over the positions n with ids[n] == v, added in
// increasing n, in T (0 for an id that never occurs: every row is written). The positions are
// grouped by id on the device (embedding.cu says how) with no float atomics, so the result is
// the same every run and equals the CPU's. An id outside [0, V) is skipped. dout (N, C); ids
// (N,); scratch: counts (V,) zeros, starts (V + 1,), order (max(N, 1),).
template <Target D, class T>
void embedding_backward(const T* dout, const int32_t* ids, int32_t* counts, int32_t* starts, int32_t* order,
                        T* dweight, int64_t N, int64_t V, int64_t C);
// index (N,) -> out (N, C): 1 where column == index[row], else 0.
template <Target D, class T> void one_hot(const int32_t* index, T* out, int64_t N, int64_t C);

// ---- cross-entropy from logits (cuda/kernels/cross_entropy.cu) ----

// logits (N, V), targets (N,); `count` rows have a target != ignore_index (counted and
// range-checked by the host); row_loss (N,) is scratch. loss (one T) = Σ_n row loss / count,
// 0 when count is 0.
template <Target D, class T>
void cross_entropy_forward(const T* logits, const int32_t* targets, double* row_loss, T* loss, int64_t N, int64_t V,
                           int64_t ignore_index, int64_t count);
// logits, dlogits: (N, V); targets (N,). dlogits = scale · (softmax(logits) - onehot(target))
// with scale = dloss / count (in double; 0 when count is 0); 0 on ignored rows. dloss is one T in
// device memory (the loss's gradient, where autograd's backward left it): read by the kernel, so
// the host never waits for it.
template <Target D, class T>
void cross_entropy_backward(const T* logits, const int32_t* targets, const T* dloss, T* dlogits, int64_t N, int64_t V,
                            int64_t ignore_index, int64_t count);

// ---- dropout (cuda/kernels/dropout.cu) ----

// x, y: (n,). y = x · keep / (1 - p), keep_i = uniform(draw offset + i of Philox (seed, stream))
// >= p: the CPU's draws (base/philox.h), so the masks are the same on both devices. The
// backward is the same call on dy.
template <Target D, class T>
void dropout(const T* x, T* y, int64_t n, double p, uint64_t seed, uint64_t stream, uint64_t offset);

// ---- optimizer updates (cuda/kernels/optim.cu) ----

// The per-element arithmetic of tensor/ops_optim.cpp's adamw_update and sgd_update, in double,
// in place. The scalars are the ones the host derives from the hyper-parameters.
struct AdamWScalars {
  double decay, beta1, beta2, eps, step_size, bias_correction2_sqrt;
};
// param, grad, m, v: (n,). One launch per parameter: the oracle of adamw_multi.
template <Target D, class T> void adamw(T* param, const T* grad, T* m, T* v, int64_t n, const AdamWScalars& s);
// param, grad, buf: (n,); buf == nullptr: SGD without momentum. first: buf is set to the
// decayed gradient.
template <Target D, class T>
void sgd(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum, double weight_decay, bool first);

// Multi-tensor launches (PyTorch's multi_tensor_apply): a list of tensors travels by value in
// the kernel's arguments, up to kMultiTensorMax per launch (what fits CUDA's 4 KB of kernel
// parameters with AdamW's 88 bytes a tensor), so nothing is uploaded: the gradients are new
// buffers every step, and a table in device memory would be an upload every step. Each block
// takes one chunk of kMultiTensorChunk elements of one tensor; thread t its elements t, t + 256,
// ... (coalesced).
constexpr int kMultiTensorMax = 40;
constexpr int64_t kMultiTensorChunk = 4096;

// One parameter of an AdamW pass: param, grad, m, v (n,) and its scalars.
template <class T> struct AdamWTensor {
  T* param;
  const T* grad;
  T* m;
  T* v;
  int64_t n;
  AdamWScalars s;
};
// Every tensor of the list updated as adamw() would, in ⌈count / kMultiTensorMax⌉ launches. With
// grad_scale (one double in device memory: gradient clipping's factor, clip_factor below) each
// gradient is first read as T(scale · g), what scaling the gradient in place and then calling
// adamw() would read; nullptr: no scaling.
template <Target D, class T> void adamw_multi(const AdamWTensor<T>* tensors, int64_t count, const double* grad_scale);

// The sum of squares of gradient clipping, as a fixed tree (tensor/ops_optim.cpp states it and
// is the oracle): each chunk of kSumChunk elements of each tensor is summed by one block of 256
// lanes, lane t adding the squares of elements t, t + 256, ... in order (fma in double), then
// the lanes pairwise (block_reduce's tree); the chunk sums of all the tensors, in list order,
// are reduced by the same tree into the total.
constexpr int64_t kSumChunk = 4096;
// xs[k] (ns[k],), k < count -> partial (Σ_k ⌈ns[k] / kSumChunk⌉,): the chunk sums in order.
template <Target D, class T> void sum_of_squares_partials(const T* const* xs, const int64_t* ns, int64_t count,
                                                          double* partial);
// partial (P,) -> total (1,): their tree sum, one block. With max_norm > 0 also gradient
// clipping's two numbers, still on the device: norm = √total and scale = max_norm / (norm +
// 1e-6) when that is below 1 and the norm is finite, else 1 (norm and scale may be nullptr).
template <Target D>
void sum_of_squares_total(const double* partial, int64_t P, double* total, double max_norm, double* norm,
                          double* scale);

}  // namespace kiso::cuda
