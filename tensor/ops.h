// tensor/ops.h — kiso's op set: every computation the model needs, on plain Tensors.
//
// What it is: the list of primitives and fused kernels, each a free function that checks its
// inputs (op name, shapes, dtypes and devices in the error), then runs where they are: on the
// cpu a loop templated on the scalar type (float for training, double for gradient checks), on
// cuda its kernel (cuda/kernels.h), both picked as tensor/dispatch.h shows. Matrix work on the
// cpu goes through Eigen `Map`s over our buffers; OpenMP splits the rest.
// What it is not: differentiable. These functions know nothing about gradients; the backward
// kernels of fused ops are listed here as ordinary ops, and autograd/functions.h wires forward
// and backward together with the derivative maths.
//
// Shapes use one alphabet throughout kiso: B batch, T time, C channels, V vocabulary, N rows.
// Implementations: ops_elementwise.cpp, ops_reduce.cpp, ops_matmul.cpp, ops_linear.cpp, ops_nn.cpp,
// ops_shape.cpp, ops_random.cpp, ops_optim.cpp, precision.cpp. Every op here has CPU code, and
// runs on cuda tensors through its kernel in cuda/kernels.h, except rand and randn (drawn on the cpu; the
// caller copies them) and to_dtype. Index tensors (ids, targets) may be on either device.
#pragma once

#include <vector>

#include "base/philox.h"
#include "tensor/gelu_kind.h"
#include "tensor/tensor.h"

namespace kiso {

// ---- elementwise, binary, with NumPy broadcasting ----
// Shapes are aligned at the right; a size of 1 (or a missing leading axis) is repeated.
// (4, 1, 3) op (2, 1) -> (4, 2, 3). Both inputs must have the same dtype and device.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);  // a + s
Tensor mul(const Tensor& a, double s);  // a * s

// The result shape of broadcasting a with b; throws naming `op` when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// The inverse of broadcasting: sums x over the axes along which `shape` was repeated to reach
// x's shape, giving a tensor of `shape`. The backward of every broadcasting op uses it.
// When shape == x.shape() it returns x itself (no copy): do not write into the result.
Tensor sum_to(const Tensor& x, const Shape& shape);
// dst += src in place (same shape, dtype, device). Autograd accumulates gradients with it.
void add_inplace(Tensor& dst, const Tensor& src);

// ---- elementwise, unary ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);              // 1 / sqrt(x)
Tensor pow(const Tensor& x, double p);      // x^p
Tensor erf(const Tensor& x);                // the Gauss error function (for exact GELU)

// ---- reductions ----
// "all" versions return a 0-d tensor; "_last" versions reduce the last axis and keep it as
// size 1: (..., N) -> (..., 1), so the result broadcasts back against the input.
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);
Tensor max(const Tensor& x);
Tensor sum_last(const Tensor& x);
Tensor mean_last(const Tensor& x);
Tensor max_last(const Tensor& x);
Tensor argmax_last(const Tensor& x);  // i32 (..., 1): index of the first maximum of each row
// index: i32 (..., 1) -> (..., n) of `dtype`, 1 at the index of each row and 0 elsewhere.
// With argmax_last it routes the gradient of max to the element that was the maximum.
Tensor one_hot(const Tensor& index, int64_t n, DType dtype);

// ---- matrix multiply ----
// a: (..., M, K), b: (..., K, N) -> (..., M, N), with equal leading (batch) axes; a rank-2
// pair is one plain matmul. trans_a / trans_b read the operand's last two axes transposed
// (a is then stored (..., K, M), b (..., N, K)), without copying it: backward needs
// dA = dC · Bᵀ and dB = Aᵀ · dC.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// ---- linear layers: the matmul with bias (and GELU) in its epilogue (ops_linear.cpp) ----
// x (..., K), w (K, N), b (N,) -> (..., N): y = x·w + b, every row of x through the same layer.
// On the cpu the plain composition matmul, then add (the oracle); on cuda one launch, the
// product's epilogue adding b as it stores (cuda/kernels.h, "Epilogue"). In bf16 precision the
// product reads x and w rounded to bf16, as matmul does; y is not rounded.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);
// The MLP's first layer and its activation in one: h = x·w + b, rounded to bf16 in bf16
// precision (the MLP's bf16_activation, tensor/precision.h), y = gelu(h). Returns y and h, both
// (..., N): GELU's backward reads h. On the cpu matmul, add, round_bf16, gelu_forward; on cuda one
// launch that writes h and y.
struct LinearGeluOutput {
  Tensor y, pre;
};
LinearGeluOutput linear_gelu(const Tensor& x, const Tensor& w, const Tensor& b, GeluKind kind);
// The backward of the epilogue: dy (..., N) and, with GELU, the saved pre (..., N):
//   dh = dy · gelu'(pre)     (pre undefined: dh = dy, returned as dy itself)
//   dbias (N,) = Σ over the rows of dh, added in cuda::kBiasGradLanes interleaved lanes (row i
//   in lane i mod 8, each lane in row order, then the lanes in order) on both devices, so the
//   cpu and cuda sums are the same sums in the same order. One launch on cuda.
// dx = dh·wᵀ and dw = xᵀ·dh are then ordinary matmuls (autograd/functions.cpp, linear).
struct BiasGeluGrads {
  Tensor dh, dbias;
};
BiasGeluGrads bias_gelu_backward(const Tensor& dy, const Tensor& pre, GeluKind kind);

// ---- bf16 rounding (mixed precision, tensor/precision.h) ----
// x: f32 (...) -> (...): each element rounded to the nearest bf16, ties to even, and widened
// back to f32 (base/bf16.h's round_bf16): the value a bf16 store of x would keep. NaN stays NaN,
// infinities stay, a finite value past the largest bf16 becomes infinity. Implementation:
// tensor/precision.cpp.
Tensor round_bf16(const Tensor& x);

// ---- softmax over the last axis ----
// y_i = exp(x_i - max_j x_j) / sum_j exp(x_j - max_j x_j). With causal = true the input is
// scores (..., Tq, Tk) and key j is hidden from query i when j > i + (Tk - Tq) (future
// tokens; with Tq == Tk that is j > i): those probabilities are exactly 0.
Tensor softmax_forward(const Tensor& x, bool causal = false);
// dx_i = y_i * (dy_i - sum_j dy_j y_j), from the saved output y (masked y are 0, so are their dx).
Tensor softmax_backward(const Tensor& y, const Tensor& dy);

// ---- layer normalisation over the last axis ----
// x: (N, C) or (..., C); gamma, beta: (C,). y = (x - mean) * rstd * gamma + beta with
// rstd = 1 / sqrt(var + eps), var the biased variance. mean and rstd (..., 1) are saved for
// the backward.
struct LayerNormOutput {
  Tensor y, mean, rstd;
};
LayerNormOutput layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;
};
LayerNormGrads layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& gamma);

// ---- residual add + dropout + layernorm, fused (the post-LN block's sum; ops_nn.cpp) ----
// x, z: (..., C); gamma, beta: (C,).
//   s = x + dropout(z, p, state)      (..., C), saved: the layernorm's input
//   y = layernorm(s, gamma, beta, eps), with mean and rstd (..., 1) saved as layernorm_forward's
// the very numbers of add(x, dropout(z, p, state)) then layernorm_forward: z's element i is
// kept with draw state.offset + i, as dropout() draws it. p may be 0 (eval): s = x + z.
struct ResidualLayerNormOutput {
  Tensor y, s, mean, rstd;
};
ResidualLayerNormOutput residual_layernorm_forward(const Tensor& x, const Tensor& z, const Tensor& gamma,
                                                   const Tensor& beta, double eps, double p, PhiloxState state);
// From the saved s, mean, rstd: ds = layernorm_backward's dx; dx = ds; dz = dropout(ds, p,
// state) (the mask regenerated, never stored; with p == 0 dz is ds, the same tensor);
// dgamma, dbeta (C,) as layernorm_backward's.
struct ResidualLayerNormGrads {
  Tensor dx, dz, dgamma, dbeta;
};
ResidualLayerNormGrads residual_layernorm_backward(const Tensor& dy, const Tensor& s, const Tensor& mean,
                                                   const Tensor& rstd, const Tensor& gamma, double p,
                                                   PhiloxState state);

// ---- GELU (the two forms are stated in tensor/gelu_kind.h) ----
Tensor gelu_forward(const Tensor& x, GeluKind kind);
Tensor gelu_backward(const Tensor& x, const Tensor& dy, GeluKind kind);

// ---- embedding ----
// weight: (V, C), ids: i32 (...) -> (..., C): row ids[i] of weight for every i.
// The ids may be on either device; they are range-checked on the host, so ids given on cuda are
// first copied back (a batch kept on the host, as the trainers keep it, is not). With
// ids_used, it receives the ids where the kernel read them (on cuda: the forward's upload),
// for the backward to reuse.
Tensor embedding_forward(const Tensor& weight, const Tensor& ids, Tensor* ids_used = nullptr);
// dweight (V, C): row v is the sum of dout over the positions whose id is v. Deterministic:
// positions are added in order, never with racing atomics. On cuda the ids may be on the
// device (the forward's ids_used: trusted, as the forward checked them; nothing is read back)
// or on the host (checked, then uploaded); the grouping by id runs on the device.
Tensor embedding_backward(const Tensor& dout, const Tensor& ids, int64_t vocab_size);

// ---- cross-entropy from logits ----
// logits: (N, V), targets: i32 (N,). loss = mean over rows with targets[n] != ignore_index of
// -log softmax(logits[n])[targets[n]]; a 0-d tensor. When every target is ignored the loss is
// 0 (there is nothing to average) and so is its gradient.
Tensor cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
// dlogits (N, V) = dloss * (softmax(logits) - onehot(targets)) / count, zero on ignored rows.
// With in_place, dlogits is written over logits' own numbers and returned as a view of them:
// for a caller (autograd's cross_entropy) that owns the logits alone and needs them no more,
// so that a training step holds one (N, V) buffer instead of two. logits must be the sole
// owner of its storage (Tensor::is_sole_owner), or this throws.
// dloss is the loss's gradient as a 0-d tensor on logits' device (autograd hands it over as it
// is: on cuda the kernel reads it, so a training step does not wait to copy it to the host), or
// as a number.
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& dloss,
                              int64_t ignore_index = -100, bool in_place = false);
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, double dloss,
                              int64_t ignore_index = -100, bool in_place = false);

// ---- masked multi-head self-attention, fused (ops_attention.cpp) ----
// qkv (B, T, 3C): [Q | K | V] along the last axis (the c_attn output), C = NH·HS. For every batch
// b and head h, with Q, K, V the head's (T, HS) blocks:
//   att = softmax(Q Kᵀ / √HS, causal)        (B·NH, T, T), saved
//   att_dropped = dropout(att, p, state)      (B·NH, T, T), saved (att itself when p == 0)
//   y[b, :, h·HS:(h+1)·HS] = att_dropped V    y (B, T, C)
// exactly the ops of the unfused attention (split heads, matmul, scale, causal softmax, dropout
// of the whole (B·NH, T, T) tensor, matmul, merge heads), without the copies between them.
// On cuda the flash kernel (the default, cuda/kernels/attention.cu) computes the same y without
// the T×T matrix: att and att_dropped stay empty, and the backward recomputes the probabilities
// from y and lse (B·NH, T), each row's logsumexp of the scaled scores.
struct AttentionOutput {
  Tensor y, att, att_dropped;
  Tensor lse;  // flash only
};
// Which cuda attention runs (the CPU always runs its fused, materialised version):
//   materialised: the composite (matmul, scale, causal softmax, dropout, matmul), which saves the
//                 (B·NH, T, T) probabilities: the oracle, and the benchmark's baseline;
//   flash:        FlashAttention-2, tiles in shared memory, nothing T×T in global memory.
// In use: the one set_attention_kernel chose, else KISO_ATTENTION=flash|materialised (any other
// name is an Error listing these), else flash. A KV cache (attention_cached) is always materialised.
enum class AttentionKernel { materialised, flash };
const char* attention_kernel_name(AttentionKernel kernel);
AttentionKernel attention_kernel_named(const char* name, const char* what);  // Error listing the names
void set_attention_kernel(AttentionKernel kernel);
void reset_attention_kernel();
AttentionKernel attention_kernel_in_use();
AttentionOutput attention_forward(const Tensor& qkv, int64_t n_head, double p, PhiloxState state);
// dqkv (B, T, 3C) from dy (B, T, C) and what the forward saved (the same p and state).
Tensor attention_backward(const Tensor& dy, const Tensor& qkv, const AttentionOutput& saved, int64_t n_head, double p,
                          PhiloxState state);

// Attention of new tokens over a KV cache (generation; no gradient). qkv (B, Tn, 3C) holds the
// new tokens; cache_k, cache_v (B·NH, capacity, HS) hold `past` positions of each head. The new
// keys and values are written into the cache at positions past .. past+Tn-1; then new query i
// attends to keys 0 .. past+i. Returns y (B, Tn, C).
Tensor attention_cached(const Tensor& qkv, int64_t n_head, Tensor& cache_k, Tensor& cache_v, int64_t past);

// ---- dropout ----
// y = x * keep / (1 - p) with keep = (uniform draw >= p), draw i taken at state.offset + i.
// The map is linear in x, so the backward is the same call on dy with the same state: the
// mask is regenerated from the counter-based RNG instead of being stored.
Tensor dropout(const Tensor& x, double p, PhiloxState state);

// ---- random tensors ----
// uniform [0, 1) and standard normal (Box-Muller in double), from `gen`'s stream. Element i
// uses draw i (uniform) or draws 2i, 2i+1 (normal) of the range gen.take() reserves.
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32);
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32);

// ---- shape ops (all of these copy) ----
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
// Elements start <= i < end along `axis`.
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end);
// The backward of slice: zeros of x_shape with dy written at start along axis.
Tensor slice_backward(const Tensor& dy, const Shape& x_shape, int64_t axis, int64_t start);
// out.shape[i] = x.shape[dims[i]].
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1);

// ---- optimizer updates (in place) ----
// The arithmetic of one optimizer step on one parameter, written into param (and the state
// tensors) in place. nn/optim.h walks the parameter list and calls these; the CUDA backend
// gives each its own kernel. All tensors of one call share shape, dtype and device. The
// per-element arithmetic runs in double and is rounded once when stored. Implementation:
// ops_optim.cpp, which states the maths above each loop.

// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), exactly PyTorch's
// torch.optim.AdamW. step is 1-based: the number of updates including this one (t in the
// bias corrections 1 - β^t).
struct AdamWHyper {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
};
// param, grad, m (first moment), v (second moment): all the same shape, e.g. (V, C).
void adamw_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h);
// SGD with momentum and L2 weight decay, PyTorch's torch.optim.SGD (no dampening, no
// Nesterov). momentum_buffer may be undefined: that marks the first step, where the buffer is
// allocated and set to the (decayed) gradient. With momentum == 0 it is not used and stays as
// it was.
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, double momentum,
                double weight_decay);
// x <- s * x (gradient clipping scales every gradient by one factor).
void scale_inplace(Tensor& x, double s);
// Σ x², accumulated in double as a fixed tree (tensor/ops_optim.cpp states it), so the result
// is the same for any number of threads and on both devices, bit for bit (the squared L2 norm
// that gradient clipping needs). On cuda the total is read back: clip_factor does not.
double sum_of_squares(const Tensor& x);

// The same for a whole parameter list in one call: on the cpu one parallel pass over all the
// elements of all the tensors, split evenly between the threads; each element gets exactly the
// single-tensor arithmetic (cuda tensors: one single-tensor call each).
struct AdamWSlot {
  Tensor param, grad, m, v;  // handles: they share storage with the caller's, which is updated
  AdamWHyper h;
};
// On cuda every parameter goes in one launch per 40 (cuda/kernels.h adamw_multi), bit for bit
// the single-tensor kernel's result.
void adamw_update(std::vector<AdamWSlot>& slots);  // = adamw_update(param, grad, m, v, h) for each
// The same with each gradient first scaled by grad_scale (one f64 on the parameters' device:
// clip_factor's scale), as scale_inplace(grads, scale) before the update would, bit for bit, but
// without writing the gradients and without the host reading the factor.
void adamw_update(std::vector<AdamWSlot>& slots, const Tensor& grad_scale);
void scale_inplace(std::vector<Tensor>& xs, double s);
// Σ x² over every element of every tensor (one device), as one tree: the chunk sums of all the
// tensors are reduced together, so this is not Σ of sum_of_squares(x) to the last bit.
double sum_of_squares(const std::vector<Tensor>& xs);
// Gradient clipping's numbers (PyTorch's clip_grad_norm_) on xs' device, each (1,) f64: norm =
// √(sum_of_squares(xs)); scale = max_norm / (norm + 1e-6) when that is below 1 and the norm is
// finite, else 1. On cuda nothing is read back: adamw_update reads the scale on the device and
// the norm is read only when logged.
struct ClipFactor {
  Tensor norm, scale;
};
ClipFactor clip_factor(const std::vector<Tensor>& xs, double max_norm);

}  // namespace kiso
