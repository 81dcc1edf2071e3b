// nn/block_config.h — the shape and the regularisation of one transformer block, as a plain
// struct with GPT-1's values as defaults.
//
// nn/modules.h builds CausalSelfAttention, MLP and Block from it; gpt/config.h's GPTConfig holds
// one (every block of a GPT has the same). A leaf header: a config can be read and written
// without the modules or the op set.
#pragma once

#include <cstdint>

#include "tensor/gelu_kind.h"

namespace kiso {

// post: GPT-1's block, LayerNorm after each residual sum; pre: GPT-2's, LayerNorm on each branch's
// input (a GPT of pre blocks also ends with a final LayerNorm).
enum class Norm { post, pre };

struct BlockConfig {
  int64_t n_embd = 768;    // C, the width of the residual stream
  int64_t n_head = 12;     // NH; each head has HS = C / NH channels
  int64_t n_inner = 3072;  // feed-forward width, 4C
  double attn_pdrop = 0.1;   // dropout on attention probabilities
  double resid_pdrop = 0.1;  // dropout on each branch before the residual sum
  double layer_norm_epsilon = 1e-5;
  GeluKind activation = GeluKind::tanh;  // GPT-1 used the tanh approximation
  Norm norm = Norm::post;

  // Throws naming the field when a value is impossible (e.g. n_embd not divisible by n_head);
  // `op` names the caller in the message.
  void validate(const char* op = "BlockConfig") const;
};

}  // namespace kiso
