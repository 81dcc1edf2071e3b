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

  // Throws naming the field when a value is impossible (e.g. n_embd not divisible by n_head).
  void validate() const;
};

// "gpt1": the paper's model (116,534,784 parameters with the 40,478-token vocabulary).
// "small": 6 layers, 384 wide, 6 heads, 256 context (~15M parameters with a 16k vocabulary).
// "tiny": 2 layers, 128 wide, 4 heads, 128 context: trains in minutes on 2 CPU cores.
GPTConfig preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace kiso
