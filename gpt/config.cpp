// gpt/config.cpp — presets and validation of GPTConfig.
#include "gpt/config.h"

#include "base/check.h"

namespace kiso {

void GPTConfig::validate() const {
  const char* op = "GPTConfig";
  check(vocab_size > 0, op, "vocab_size must be positive, got {}", vocab_size);
  check(n_ctx > 0, op, "n_ctx must be positive, got {}", n_ctx);
  check(n_layer > 0, op, "n_layer must be positive, got {}", n_layer);
  block.validate(op);
  check(embd_pdrop >= 0 && embd_pdrop < 1, op, "embd_pdrop must be in [0, 1), got {}", embd_pdrop);
  check(initializer_range >= 0, op, "initializer_range must be >= 0, got {}", initializer_range);
}

GPTConfig preset(const std::string& name) {
  GPTConfig c;  // the defaults are GPT-1
  if (name == "gpt1") return c;
  if (name == "small") {
    c.vocab_size = 16384, c.n_ctx = 256, c.n_layer = 6;
    c.block.n_head = 6, c.block.n_embd = 384, c.block.n_inner = 1536;
    return c;
  }
  if (name == "tiny") {
    c.vocab_size = 4096, c.n_ctx = 128, c.n_layer = 2;
    c.block.n_head = 4, c.block.n_embd = 128, c.block.n_inner = 512;
    return c;
  }
  fail("preset", "unknown preset '{}'; expected one of gpt1, small, tiny", name);
}

std::vector<std::string> preset_names() { return {"gpt1", "small", "tiny"}; }

}  // namespace kiso
