// nn/modules.h — the building blocks of GPT-1 as plain structs of parameters.
//
// What it is: Linear, Embedding, LayerNorm, GELU, Dropout, CausalSelfAttention, MLP and Block.
// Each struct holds its parameters as Variables, has a short `forward` built from the
// differentiable functions of autograd/functions.h (so backward comes for free), and a
// `parameters()` that names them in a fixed order, with the Hugging Face `openai-gpt` names
// ("c_attn", "ln_1", ...). What it is not: a module framework. No base class, no registry,
// no hooks beyond one optional Observer for the teaching tools; the model (gpt/model.h) composes
// these by hand, like the paper's Figure 1.
//
// Shapes: B batch, T time, C channels (n_embd), NH heads, HS = C / NH head size.
// Reference: Radford et al. 2018, section 3.1 and Figure 1; HF transformers' modeling_openai.py
// for the names and the weight layout.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "nn/block_config.h"
#include "nn/parameters.h"

namespace kiso {

// Watches one forward pass, for the tools that show the model working (kiso trace and kiso
// attention, train/trace.h): the modules hand `see` each stage's value as they compute it, named
// as the parameters are ("attn.c_attn", "ln_1", ...; the model's own stages "U W_e", "W_p",
// "h_0"), with the block it belongs to. Stages a fused op never forms (the residual sum before
// a post-LN LayerNorm, the MLP's pre-activation before GELU) are formed for the observer alone,
// from the same inputs. Without an observer (Mode's default) nothing is called or formed: no
// cost and no change to any number.
struct Observer {
  std::function<void(int64_t layer, const std::string& stage, const Tensor& value)> see;
  int64_t layer = -1;  // the block running now (GPT::hidden_states sets it); -1 outside the blocks
};

// Train or eval. In training, dropout draws its masks from *rng; in eval it is the identity.
struct Mode {
  bool training = false;
  Generator* rng = nullptr;
  Observer* observer = nullptr;  // optional: see Observer

  static Mode eval() { return {}; }
  static Mode train(Generator& rng) { return {true, &rng}; }
  // Hands `value` to the observer, if there is one.
  void observe(const char* stage, const Variable& value) const {
    if (observer) observer->see(observer->layer, stage, value.value());
  }
};

// How a module's parameters are first drawn: weights N(0, std), biases 0, LayerNorm gains 1
// (GPT-1: "a simple weight initialization of N(0, 0.02) was sufficient"). Without a generator
// the weights are zeros: a shell for a checkpoint to be loaded into, with no draws wasted.
struct Init {
  Generator* gen;
  DType dtype = DType::f32;
  double std = 0.02;

  Variable normal(const Shape& shape) const;
  Variable filled(const Shape& shape, double value) const;
};

// y = x · W + b, with W stored (in, out) as GPT-1 and Hugging Face's Conv1D store it.
struct Linear {
  Variable weight;  // (in, out)
  Variable bias;    // (out,)

  Linear() = default;
  Linear(int64_t in, int64_t out, const Init& init);
  Variable forward(const Variable& x) const;  // x (..., in) -> (..., out)
  Parameters parameters();
};

// Rows of a table: the vector for each id.
struct Embedding {
  Variable weight;  // (V, C)

  Embedding() = default;
  Embedding(int64_t count, int64_t dim, const Init& init);
  Variable forward(const Tensor& ids) const;  // ids i32 (...) -> (..., C)
  Parameters parameters();
};

// Normalises each position's C channels to zero mean and unit variance, then scales and shifts.
struct LayerNorm {
  Variable weight;  // (C,) the gain, init 1
  Variable bias;    // (C,) init 0
  double eps = 1e-5;

  LayerNorm() = default;
  LayerNorm(int64_t dim, double eps, const Init& init);
  Variable forward(const Variable& x) const;  // (..., C) -> (..., C)
  Parameters parameters();
};

struct GELU {
  GeluKind kind = GeluKind::tanh;  // GPT-1 used the tanh approximation
  Variable forward(const Variable& x) const { return gelu(x, kind); }
};

// Zeroes each element with probability p in training (and scales the rest by 1/(1-p)).
struct Dropout {
  double p = 0;
  Variable forward(const Variable& x, const Mode& mode) const;
};

// The keys and values one attention layer has computed for the tokens seen so far, so that
// generation feeds each new token once instead of the whole context again (inference only).
struct LayerCache {
  Tensor k, v;           // (B·NH, capacity, HS) each; undefined before the first token
  int64_t length = 0;    // positions held: the first `length` rows of each head
  int64_t capacity = 0;  // positions to allocate room for (the model's n_ctx); 0: just the first call's
};

// Masked multi-head self-attention: each position attends to itself and the past only.
struct CausalSelfAttention {
  Linear c_attn;  // C -> 3C: query, key and value projections fused in one matmul
  Linear c_proj;  // C -> C: the output projection
  int64_t n_head = 1;
  Dropout attn_dropout;   // on the attention probabilities
  Dropout resid_dropout;  // on the output, before it joins the residual stream (applied by the Block)

  CausalSelfAttention() = default;
  CausalSelfAttention(const BlockConfig& config, const Init& init);  // n_embd, n_head, the two dropouts
  // x (B, T, C) -> (B, T, C), before resid_dropout. With a cache, x holds only the new tokens:
  // they attend to the cached keys and values too, and are appended to them.
  Variable forward(const Variable& x, const Mode& mode, LayerCache* cache = nullptr) const;
  Parameters parameters();
};

// The position-wise feed-forward network: C -> 4C -> GELU -> C.
struct MLP {
  Linear c_fc;    // C -> n_inner (4C in GPT-1)
  GELU act;
  Linear c_proj;  // n_inner -> C
  Dropout dropout;  // on the output, applied by the Block with the residual sum

  MLP() = default;
  MLP(const BlockConfig& config, const Init& init);  // n_embd, n_inner, activation, resid_pdrop
  Variable forward(const Variable& x, const Mode& mode) const;  // (B, T, C) -> (B, T, C), before dropout
  Parameters parameters();
};

// One transformer block. GPT-1 is post-LN: the LayerNorm comes after each residual sum, and the
// branch's dropout, the sum and the LayerNorm run as one fused op (residual_layernorm).
// Norm::pre gives the GPT-2 block, LayerNorm on the branch input.
struct Block {
  CausalSelfAttention attn;
  LayerNorm ln_1;
  MLP mlp;
  LayerNorm ln_2;
  Norm norm = Norm::post;

  Block() = default;
  Block(const BlockConfig& config, const Init& init);
  Variable forward(const Variable& x, const Mode& mode, LayerCache* cache = nullptr) const;  // (B, T, C)
  Parameters parameters();
};

// Mean of `values` over the positions where `mask` is 1 (mask: same shape, 0 or 1, a constant).
// E.g. the auxiliary LM loss over real tokens only. Throws when the mask selects nothing.
Variable masked_mean(const Variable& values, const Tensor& mask);

}  // namespace kiso
