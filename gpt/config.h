// gpt/config.h — the shape of a GPT: a plain struct with GPT-1's values as defaults, and
// named presets.
//
// GPT-1 (Radford et al. 2018, section 4.1): 12 layers, 768 channels, 12 heads, 3072-wide
// feed-forward, 512-token context, BPE vocabulary of 40,478, dropout 0.1 on embeddings,
// attention and residuals, GELU (the tanh approximation in OpenAI's code), learned position
// embeddings, post-LN blocks, no final LayerNorm, the LM head tied to the token embedding.
#pragma once

#include <string>
#include <vector>

#include "nn/block_config.h"

namespace kiso {

struct GPTConfig {
  int64_t vocab_size = 40478;  // BPE merges of GPT-1 (special tokens are added at fine-tuning)
  int64_t n_ctx = 512;         // the longest sequence; position embeddings have this many rows
  int64_t n_layer = 12;
  double embd_pdrop = 0.1;     // dropout on token + position embeddings
  double initializer_range = 0.02;  // N(0, 0.02) initial weights
  BlockConfig block;  // each of the n_layer blocks: n_embd 768, n_head 12, n_inner 3072, attention
                      // and residual dropout 0.1, tanh GELU, post-LN (nn/block_config.h)

  // Throws naming the field and the value when one is impossible: vocab_size, n_ctx, n_layer
  // not positive, vocab_size or n_ctx past 2^31 (ids and positions are i32), embd_pdrop outside
  // [0, 1), initializer_range negative or not finite, a bad BlockConfig (nn/block_config.h), a
  // parameter count past int64, or more f32 weights than the memory budget allows
  // (check_model_memory). Every model kiso builds is validated first, before any allocation.
  void validate() const;
};

// "gpt1": the paper's model (116,534,784 parameters with the 40,478-token vocabulary).
// "small": 6 layers, 384 wide, 6 heads, 256 context (~15M parameters with a 16k vocabulary).
// "tiny": 2 layers, 128 wide, 4 heads, 128 context: trains in minutes on 2 CPU cores.
GPTConfig preset(const std::string& name);
// The parameters of a GPT of this shape, counted without building it (the tied LM head once):
//   vocab_size·C (tokens_embed) + n_positions·C (positions_embed) + n_layer·(a block, see
//   nn/block_config.h's parameter_count) + 2C for pre-LN's final LayerNorm        (C = n_embd)
// Overflow-checked: an Error naming the fields when the count does not fit in int64.
int64_t parameter_count(const GPTConfig& config);
// Refuses a model whose parameter_count × bytes_per_parameter (4 for f32, 8 for f64) is more than
// base/size.h's memory_limit_bytes(), with the count broken down by field, largest first:
//   "GPTConfig: n_layer 1000000000 × 668 parameters a block (n_embd 8, n_inner 20) + vocab_size 30
//    × n_embd 8 + n_positions 12 × n_embd 8 = 668000000336 parameters; the model as f32 needs
//    2.4 TiB, more than the 15.6 GiB of memory this machine has (KISO_MEMORY_LIMIT sets the limit)"
// The weights alone: training needs about four times as much (gradients, two AdamW moments).
void check_model_memory(const GPTConfig& config, int64_t bytes_per_parameter);
std::vector<std::string> preset_names();

}  // namespace kiso
