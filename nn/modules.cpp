// nn/modules.cpp — forward passes of the GPT-1 building blocks (see modules.h). Backward is
// autograd's: every line here is a differentiable function of autograd/functions.h.
//
// BF16 mixed precision (tensor/precision.h): bf16_activation marks the activations a bf16 run
// stores in bf16, the outputs of a branch's linear layers: the MLP's hidden layer (before GELU;
// the largest activation, 4C a token; linear_gelu rounds it itself, in the matmul's epilogue on
// cuda) and each branch's output before dropout and the residual
// sum. In f32 it is the identity. Not rounded: the residual stream (a sum of many small updates,
// which bf16's 8-bit significand would lose against the larger running value), layernorm's
// outputs (they are the residual stream of the post-LN block), and the logits and task scores
// (the loss reads them). qkv, GELU's output and the attention output are not marked either: each
// only feeds products, which round their inputs themselves, so marking them changes no number.
#include "nn/modules.h"

#include <cmath>

namespace kiso {

// ---- initialisation ----

Variable Init::normal(const Shape& shape) const {
  if (gen == nullptr) return Variable(zeros(shape, dtype), true);  // to be loaded into
  return Variable(mul(randn(shape, *gen, dtype), std), true);
}

Variable Init::filled(const Shape& shape, double value) const { return Variable(full(shape, value, dtype), true); }

// ---- Linear ----

Linear::Linear(int64_t in, int64_t out, const Init& init)
    : weight(init.normal({in, out})), bias(init.filled({out}, 0.0)) {}

Variable Linear::forward(const Variable& x) const {
  int64_t in = weight.shape()[0];
  check(x.shape().size() >= 1 && x.shape().back() == in, "Linear", "input has shape {}; expected last axis {} (in_features)",
        shape_str(x.shape()), in);
  return linear(x, weight, bias);  // (..., in) -> (..., out) = x·weight + bias: one op, on cuda one launch
}

Parameters Linear::parameters() { return {{"weight", &weight}, {"bias", &bias}}; }

// ---- Embedding ----

Embedding::Embedding(int64_t count, int64_t dim, const Init& init) : weight(init.normal({count, dim})) {}

Variable Embedding::forward(const Tensor& ids) const { return embedding(weight, ids); }

Parameters Embedding::parameters() { return {{"weight", &weight}}; }

// ---- LayerNorm ----

LayerNorm::LayerNorm(int64_t dim, double eps_, const Init& init)
    : weight(init.filled({dim}, 1.0)), bias(init.filled({dim}, 0.0)), eps(eps_) {}

Variable LayerNorm::forward(const Variable& x) const { return layernorm(x, weight, bias, eps); }

Parameters LayerNorm::parameters() { return {{"weight", &weight}, {"bias", &bias}}; }

// ---- Dropout ----

Variable Dropout::forward(const Variable& x, const Mode& mode) const {
  if (!mode.training || p == 0) return x;
  check(mode.rng != nullptr, "Dropout", "training mode needs a generator for the dropout masks");
  return dropout(x, p, *mode.rng);
}

// ---- CausalSelfAttention ----

CausalSelfAttention::CausalSelfAttention(const BlockConfig& c, const Init& init)
    : c_attn(c.n_embd, 3 * c.n_embd, init), c_proj(c.n_embd, c.n_embd, init), n_head(c.n_head),
      attn_dropout{c.attn_pdrop}, resid_dropout{c.resid_pdrop} {
  check(n_head > 0 && c.n_embd % n_head == 0, "CausalSelfAttention", "n_embd {} is not divisible by n_head {}",
        c.n_embd, n_head);
}

// attention(Q, K, V) = softmax(Q Kᵀ / √HS, causal) V, per head (Vaswani et al. 2017).
Variable CausalSelfAttention::forward(const Variable& x, const Mode& mode, LayerCache* cache) const {
  check(x.shape().size() == 3, "CausalSelfAttention", "input must be (B, T, C), got {}", shape_str(x.shape()));
  int64_t B = x.shape()[0], C = x.shape()[2];
  Variable qkv = c_attn.forward(x);                        // (B, T, 3C)
  mode.observe("attn.c_attn", qkv);
  if (!cache) {  // the fused op (tensor/ops_attention.cpp): the steps below, without their copies
    double p = mode.training ? attn_dropout.p : 0.0;
    Variable y = attention(qkv, n_head, p, p > 0 ? mode.rng : nullptr);  // (B, T, C)
    mode.observe("attn.attention", y);
    Variable out = bf16_activation(c_proj.forward(y));  // resid_dropout: the Block's, fused with its sum
    mode.observe("attn.c_proj", out);
    return out;
  }
  // With the KV cache (generation): the new tokens' queries attend to every cached key and
  // value and their own (tensor/ops_attention.cpp); the cache is filled in place.
  check(!grad_enabled(), "CausalSelfAttention", "the KV cache is for inference: call under a NoGradGuard");
  int64_t T = x.shape()[1], HS = C / n_head;
  if (!cache->k.defined()) {
    int64_t capacity = std::max(cache->capacity, T);
    cache->k = zeros({B * n_head, capacity, HS}, x.value().dtype(), x.value().device());  // (B·NH, capacity, HS)
    cache->v = zeros({B * n_head, capacity, HS}, x.value().dtype(), x.value().device());
  }
  Variable y(attention_cached(qkv.value(), n_head, cache->k, cache->v, cache->length));  // (B, T, C)
  cache->length += T;
  return bf16_activation(c_proj.forward(y));  // (B, T, C)
}

Parameters CausalSelfAttention::parameters() {
  Parameters out;
  append_parameters(out, "c_attn", c_attn.parameters());
  append_parameters(out, "c_proj", c_proj.parameters());
  return out;
}

// ---- MLP ----

MLP::MLP(const BlockConfig& c, const Init& init)
    : c_fc(c.n_embd, c.n_inner, init), act{c.activation}, c_proj(c.n_inner, c.n_embd, init), dropout{c.resid_pdrop} {}

Variable MLP::forward(const Variable& x, const Mode& mode) const {
  // c_fc and GELU in one op: h = x·W + b (a bf16 activation), gelu(h); on cuda one launch, the
  // bias and GELU in the matmul's epilogue. (GELU is the MLP's only activation: GeluKind.)
  if (mode.observer) mode.observe("mlp.c_fc", c_fc.forward(x));  // x·W + b before GELU, for the observer only
  Variable h = linear_gelu(x, c_fc.weight, c_fc.bias, act.kind);  // (B, T, n_inner), after GELU
  mode.observe("mlp.gelu", h);
  Variable out = bf16_activation(c_proj.forward(h));  // (B, T, C); dropout: the Block's
  mode.observe("mlp.c_proj", out);
  return out;
}

Parameters MLP::parameters() {
  Parameters out;
  append_parameters(out, "c_fc", c_fc.parameters());
  append_parameters(out, "c_proj", c_proj.parameters());
  return out;
}

// ---- Block ----

Block::Block(const BlockConfig& c, const Init& init)
    : attn(c, init), ln_1(c.n_embd, c.layer_norm_epsilon, init), mlp(c, init),
      ln_2(c.n_embd, c.layer_norm_epsilon, init), norm(c.norm) {}

// LN(x + dropout(branch)) as one op (autograd's residual_layernorm), drawing the mask where
// drop.forward would have: right after the branch, so the random stream is the one the
// separate dropout, add and layernorm consumed, and seeded runs keep their numbers. An observer
// sees the sum (formed for it alone, without the dropout: it watches eval passes) as
// `sum_stage` and the output as `norm_stage`.
static Variable add_dropout_norm(const Variable& x, const Variable& branch, const Dropout& drop, const LayerNorm& ln,
                                 const Mode& mode, const char* sum_stage, const char* norm_stage) {
  double p = mode.training ? drop.p : 0.0;
  check(p == 0 || mode.rng != nullptr, "Dropout", "training mode needs a generator for the dropout masks");
  if (mode.observer) mode.observe(sum_stage, x + branch);
  Variable out = residual_layernorm(x, branch, ln.weight, ln.bias, ln.eps, p, mode.rng);
  mode.observe(norm_stage, out);
  return out;
}

// The branches return their output before its dropout; the Block applies it with the residual sum.
Variable Block::forward(const Variable& x, const Mode& mode, LayerCache* cache) const {
  if (norm == Norm::pre) {  // GPT-2: normalise the branch input, keep the residual stream raw
    Variable n1 = ln_1.forward(x);
    mode.observe("ln_1", n1);
    Variable h = x + attn.resid_dropout.forward(attn.forward(n1, mode, cache), mode);
    mode.observe("x + attn", h);
    Variable n2 = ln_2.forward(h);
    mode.observe("ln_2", n2);
    Variable out = h + mlp.dropout.forward(mlp.forward(n2, mode), mode);
    mode.observe("h + mlp", out);
    return out;
  }
  // GPT-1 (post-LN): h = LN(x + dropout(attention(x))), out = LN(h + dropout(MLP(h)))
  Variable h = add_dropout_norm(x, attn.forward(x, mode, cache), attn.resid_dropout, ln_1, mode, "x + attn", "ln_1");
  return add_dropout_norm(h, mlp.forward(h, mode), mlp.dropout, ln_2, mode, "h + mlp", "ln_2");
}

Parameters Block::parameters() {
  Parameters out;
  append_parameters(out, "attn", attn.parameters());
  append_parameters(out, "ln_1", ln_1.parameters());
  append_parameters(out, "mlp", mlp.parameters());
  append_parameters(out, "ln_2", ln_2.parameters());
  return out;
}

// ---- losses ----

Variable masked_mean(const Variable& values, const Tensor& mask) {
  check(mask.shape() == values.shape(), "masked_mean", "mask has shape {} but values have {}", shape_str(mask.shape()),
        shape_str(values.shape()));
  double count = sum(mask).item();
  check(count > 0, "masked_mean", "the mask selects no element (shape {})", shape_str(mask.shape()));
  return mul(sum(values * Variable(mask)), 1.0 / count);
}

}  // namespace kiso
