// gpt/model.h — the GPT-1 model: embeddings, a stack of blocks, the tied LM head.
//
// Reads like the paper's Figure 1 (left) and equation (2):
//   h_0 = U W_e + W_p                 token embedding + learned position embedding
//   h_l = transformer_block(h_{l-1})  for l = 1..n
//   P(u) = softmax(h_n W_eᵀ)          the LM head reuses the token embedding matrix
// What it is not: a tokenizer (gpt/tokenizer.h), a task head (gpt/tasks.h) or a trainer (train/).
// Parameter names are Hugging Face `openai-gpt`'s, so gpt/checkpoint.h writes them as they are.
#pragma once

#include "gpt/config.h"
#include "nn/modules.h"

namespace kiso {

// Every layer's cached keys and values, and how many positions they hold (generation only).
struct KVCache {
  std::vector<LayerCache> layers;
  int64_t length = 0;  // positions already in the cache: the next token's position
};

struct GPT {
  GPTConfig config;
  Embedding tokens_embed;     // W_e (V, C), also the LM head
  Embedding positions_embed;  // W_p (n_ctx, C)
  Dropout drop;               // on h_0
  std::vector<Block> h;       // n_layer blocks
  LayerNorm ln_f;             // only with config.block.norm == Norm::pre (GPT-2 style); GPT-1 has none

  // Random initial weights from `gen` (N(0, initializer_range), biases 0, gains 1), in `dtype`
  // (f32 to train, f64 for gradient checks).
  GPT(const GPTConfig& config, Generator& gen, DType dtype = DType::f32);
  // Zero weights, for a checkpoint to be loaded into (gpt/checkpoint.h's load_model).
  explicit GPT(const GPTConfig& config, DType dtype = DType::f32);

  // ids i32 (B, T) -> the final hidden states h_n (B, T, C), what task heads read.
  // T must be at most n_ctx; ids must be < vocab_size. With a cache, ids are the tokens that
  // follow the cache->length cached ones (positions cache->length ...), and the cache grows;
  // cache->length + T must stay within n_ctx. An Observer in `mode` (nn/modules.h; kiso trace)
  // is handed "U W_e", "W_p", "h_0", then each block's stages; a KV cache hides attention's.
  Variable hidden_states(const Tensor& ids, const Mode& mode, KVCache* cache = nullptr) const;
  // ids (B, T) -> next-token logits (B, T, V) = h_n W_eᵀ.
  Variable logits(const Tensor& ids, const Mode& mode, KVCache* cache = nullptr) const;
  // The tied LM head alone: hidden states (B, T, C) -> logits (B, T, V).
  Variable lm_head(const Variable& hidden) const;
  // Mean cross-entropy of the logits against targets (B, T) (ignore_index -100 skips a position).
  Variable loss(const Tensor& ids, const Tensor& targets, const Mode& mode) const;

  // Every parameter once (the tied head is the token embedding), with its HF name, in a fixed
  // order: tokens_embed, positions_embed, then h.0.attn.c_attn.weight ... h.{L-1}.ln_2.bias,
  // then ln_f for pre-norm models.
  Parameters parameters();
  int64_t num_parameters();
};

}  // namespace kiso
