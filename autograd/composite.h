// autograd/composite.h — the fused ops rebuilt from primitives (add, mul, exp, sum_last, ...).
//
// What they are for: test oracles. Autograd differentiates them through the primitives'
// closures, so their values and gradients are an independent check of the hand-written
// backward kernels in tensor/ops_nn.cpp (tests/autograd/test_composite.cpp). They are slower
// and use more memory; training never calls them. Each follows its fused twin's formula in
// autograd/functions.cpp line for line.
#pragma once

#include "autograd/functions.h"

namespace kiso::composite {

Variable softmax(const Variable& x, bool causal = false);
Variable layernorm(const Variable& x, const Variable& gamma, const Variable& beta, double eps = 1e-5);
Variable gelu(const Variable& x, GeluKind kind = GeluKind::tanh);
Variable cross_entropy(const Variable& logits, const Tensor& targets, int64_t ignore_index = -100);
// The unfused attention: slices of qkv permuted into heads, Q·Kᵀ, scale, causal softmax,
// dropout (from *gen when p > 0), ·V, heads merged back. What nn/modules.cpp ran before the fused
// op, and what attention_forward's cuda path still runs.
Variable attention(const Variable& qkv, int64_t n_head, double p, Generator* gen);

}  // namespace kiso::composite
