// nn/block_config.h — the shape and the regularisation of one transformer block, as a plain
// struct with GPT-1's values as defaults.
//
// nn/modules.h builds CausalSelfAttention, MLP and Block from it; gpt/config.h's GPTConfig holds
// one (every block of a GPT has the same). A leaf header: a config can be read and written
// without the modules or the op set. Its two functions (nn/block_config.cpp) check every field
// and count a block's parameters with overflow checks, so a config read from a file is refused
// before a tensor is made from it.
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

  // Throws naming the field and the value when one is impossible: n_head, n_embd, n_inner not
  // positive, n_embd not a multiple of n_head, a dropout outside [0, 1) or NaN,
  // layer_norm_epsilon not finite and positive, an activation or norm that is not one of the
  // enums' values, or a parameter count past int64 (see parameter_count). `op` names the caller.
  void validate(const char* op = "BlockConfig") const;
};

// The parameters of one block (nn/modules.h's Block), counted without building it:
//   attn.c_attn  C·3C + 3C     attn.c_proj  C·C + C       ln_1, ln_2   2C each
//   mlp.c_fc     C·I + I       mlp.c_proj   I·C + C
//   total        4C² + 2C·I + 9C + I            (C = n_embd, I = n_inner)
// Every product is overflow-checked (base/size.h): an Error naming n_embd and n_inner, `op` first,
// when the count does not fit in int64. Fields must be positive (validate checks that first).
int64_t parameter_count(const BlockConfig& c, const char* op = "BlockConfig");

}  // namespace kiso
