// tests/train/toy_config.h — the GPT shape the bench and MFU tests share: 2 layers of 4 channels,
// 2 heads, a feed-forward width of 8, a vocabulary of 10 and a context of 6. Small enough that a
// bench run takes milliseconds and a FLOP count can be done by hand.
#pragma once

#include "gpt/config.h"

namespace kiso::testing {

inline GPTConfig toy_config() {
  GPTConfig c;
  c.vocab_size = 10, c.n_ctx = 6, c.n_layer = 2;
  c.block.n_head = 2, c.block.n_embd = 4, c.block.n_inner = 8;
  return c;
}

}  // namespace kiso::testing
