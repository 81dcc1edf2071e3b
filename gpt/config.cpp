// gpt/config.cpp — presets and validation of GPTConfig.
#include "gpt/config.h"

#include "base/check.h"

namespace kiso {

void GPTConfig::validate() const {
  const char* op = "GPTConfig";
  check(vocab_size > 0, op, "vocab_size must be positive, got {}", vocab_size);
  check(n_ctx > 0, op, "n_ctx must be positive, got {}", n_ctx);
  check(n_layer > 0, op, "n_layer must be positive, got {}", n_layer);
  check(n_head > 0, op, "n_head must be positive, got {}", n_head);
  check(n_embd > 0 && n_embd % n_head == 0, op, "n_embd ({}) must be a positive multiple of n_head ({})", n_embd, n_head);
  check(n_inner > 0, op, "n_inner must be positive, got {}", n_inner);
  for (auto [name, p] : {std::pair{"embd_pdrop", embd_pdrop}, std::pair{"attn_pdrop", attn_pdrop},
                         std::pair{"resid_pdrop", resid_pdrop}})
    check(p >= 0 && p < 1, op, "{} must be in [0, 1), got {}", name, p);
  check(layer_norm_epsilon > 0, op, "layer_norm_epsilon must be positive, got {}", layer_norm_epsilon);
  check(initializer_range >= 0, op, "initializer_range must be >= 0, got {}", initializer_range);
}

GPTConfig preset(const std::string& name) {
  GPTConfig c;  // the defaults are GPT-1
  if (name == "gpt1") return c;
  if (name == "small") {
    c.vocab_size = 16384, c.n_ctx = 256, c.n_layer = 6, c.n_head = 6, c.n_embd = 384, c.n_inner = 1536;
    return c;
  }
  if (name == "tiny") {
    c.vocab_size = 4096, c.n_ctx = 128, c.n_layer = 2, c.n_head = 4, c.n_embd = 128, c.n_inner = 512;
    return c;
  }
  fail("preset", "unknown preset '{}'; expected one of gpt1, small, tiny", name);
}

std::vector<std::string> preset_names() { return {"gpt1", "small", "tiny"}; }

}  // namespace kiso
