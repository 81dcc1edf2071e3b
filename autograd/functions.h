// autograd/functions.h — one differentiable function per op of the op set (tensor/ops.h).
//
// Each function computes its value with the tensor op, then records (Variable::record) the
// closure that turns the output gradient into input gradients. In functions.cpp every op has
// one block: a comment with forward, backward and what is saved, then the code, in that order.
//
// The fused ops (softmax, layernorm, gelu, cross_entropy) use hand-written backward kernels;
// autograd/composite.h rebuilds each from the primitives here, as a test oracle.
// residual_layernorm's oracle is the three ops it fuses (dropout, add, layernorm).
// Integer inputs (token ids, targets) are plain Tensors: nothing is differentiated by them.
#pragma once

#include <vector>

#include "autograd/variable.h"
#include "tensor/ops.h"

namespace kiso {

// ---- elementwise with broadcasting ----
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable add(const Variable& a, double s);
Variable mul(const Variable& a, double s);
inline Variable operator+(const Variable& a, const Variable& b) { return add(a, b); }
inline Variable operator-(const Variable& a, const Variable& b) { return sub(a, b); }
inline Variable operator*(const Variable& a, const Variable& b) { return mul(a, b); }
inline Variable operator/(const Variable& a, const Variable& b) { return div(a, b); }

// ---- unary ----
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable tanh(const Variable& x);
Variable sqrt(const Variable& x);
Variable rsqrt(const Variable& x);
Variable pow(const Variable& x, double p);
Variable erf(const Variable& x);
inline Variable operator-(const Variable& x) { return neg(x); }

// ---- reductions (see tensor/ops.h: "all" -> 0-d, "_last" -> (..., 1)) ----
Variable sum(const Variable& x);
Variable mean(const Variable& x);
Variable max(const Variable& x);
Variable sum_last(const Variable& x);
Variable mean_last(const Variable& x);
Variable max_last(const Variable& x);

// ---- matmul ----
Variable matmul(const Variable& a, const Variable& b, bool trans_a = false, bool trans_b = false);
// A linear layer, x (..., K), w (K, N), b (N,) -> (..., N): y = x·w + b (tensor/ops.h, linear).
Variable linear(const Variable& x, const Variable& w, const Variable& b);
// The MLP's first layer and its activation: y = gelu(h), h = x·w + b (bf16-rounded in bf16
// precision, as bf16_activation would). One cuda launch forward, one plus the two products back.
Variable linear_gelu(const Variable& x, const Variable& w, const Variable& b, GeluKind kind = GeluKind::tanh);

// ---- fused ----
Variable softmax(const Variable& x, bool causal = false);
Variable layernorm(const Variable& x, const Variable& gamma, const Variable& beta, double eps = 1e-5);
// layernorm(x + dropout(z, p), gamma, beta, eps) as one op: the post-LN block's residual sum.
// z's mask is drawn from *gen with the one take dropout(z, p, *gen) would make; p must be 0
// when gen is null (then nothing is drawn and it is layernorm(x + z)).
Variable residual_layernorm(const Variable& x, const Variable& z, const Variable& gamma, const Variable& beta,
                            double eps, double p, Generator* gen);
Variable gelu(const Variable& x, GeluKind kind = GeluKind::tanh);
Variable embedding(const Variable& weight, const Tensor& ids);
Variable cross_entropy(const Variable& logits, const Tensor& targets, int64_t ignore_index = -100);
// The same, for logits handed over (a temporary, or std::move): when nothing else holds them
// (no other Variable handle, no other view of their storage), the backward writes dlogits over
// them instead of into a second (N, V) buffer. Otherwise it is the function above.
Variable cross_entropy(Variable&& logits, const Tensor& targets, int64_t ignore_index = -100);
// Draws its mask from `gen` (advancing it by one range). With p == 0 it is the identity.
Variable dropout(const Variable& x, double p, Generator& gen);
// Masked multi-head self-attention from the fused qkv (B, T, 3C) to y (B, T, C), with dropout p
// on the probabilities (drawn from *gen; p must be 0 when gen is null). tensor/ops.h states it.
Variable attention(const Variable& qkv, int64_t n_head, double p, Generator* gen);

// ---- mixed precision (tensor/precision.h) ----
// An activation as BF16 mixed precision stores it: x rounded to bf16 while matmul_precision()
// is bf16 (its gradient passes straight through), x itself in f32.
Variable bf16_activation(const Variable& x);

// ---- shape ----
Variable concat(const std::vector<Variable>& xs, int64_t axis);
Variable slice(const Variable& x, int64_t axis, int64_t start, int64_t end);
Variable permute(const Variable& x, const std::vector<int64_t>& dims);
Variable transpose(const Variable& x, int64_t axis0, int64_t axis1);
Variable reshape(const Variable& x, const Shape& shape);

}  // namespace kiso
