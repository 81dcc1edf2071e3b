// gpt/config.cpp — presets, validation and the parameter count of GPTConfig.
#include "gpt/config.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/check.h"
#include "base/size.h"

namespace kiso {

// Token ids and positions are i32 tensors (tensor/tensor.h), so neither table can have more rows
// than an i32 index reaches: ids 0 .. 2^31 - 1.
constexpr int64_t kMaxRows = int64_t(1) << 31;

void GPTConfig::validate() const {
  const char* op = "GPTConfig";
  check(vocab_size > 0, op, "vocab_size must be positive, got {}", vocab_size);
  check(vocab_size <= kMaxRows, op, "vocab_size {} is more than {}, the most tokens an i32 id can address", vocab_size,
        kMaxRows);
  check(n_ctx > 0, op, "n_positions (n_ctx) must be positive, got {}", n_ctx);
  check(n_ctx <= kMaxRows, op, "n_positions (n_ctx) {} is more than {}, the most positions an i32 index can address",
        n_ctx, kMaxRows);
  check(n_layer > 0, op, "n_layer must be positive, got {}", n_layer);
  block.validate(op);
  check(embd_pdrop >= 0 && embd_pdrop < 1, op, "embd_pdrop must be in [0, 1), got {}", embd_pdrop);
  check(initializer_range >= 0 && std::isfinite(initializer_range), op,
        "initializer_range must be a finite number >= 0, got {}", initializer_range);
  check_model_memory(*this, 4);  // f32, the dtype kiso trains and stores in
}

int64_t parameter_count(const GPTConfig& c) {
  const char* op = "GPTConfig";
  const int64_t C = c.block.n_embd;
  int64_t n = mul_size(c.vocab_size, C, op, "vocab_size × n_embd");
  n = add_size(n, mul_size(c.n_ctx, C, op, "n_positions × n_embd"), op, "the parameter count");
  n = add_size(n, mul_size(c.n_layer, parameter_count(c.block, op), op, "n_layer × a block's parameters"), op,
               "the parameter count");
  if (c.block.norm == Norm::pre) n = add_size(n, mul_size(2, C, op, "ln_f"), op, "the parameter count");
  return n;
}

void check_model_memory(const GPTConfig& c, int64_t bytes_per_parameter) {
  const char* op = "GPTConfig";
  const int64_t C = c.block.n_embd;
  const int64_t n = parameter_count(c);
  int64_t bytes = 0;
  const bool past_int64 = __builtin_mul_overflow(n, bytes_per_parameter, &bytes);
  if (!past_int64 && bytes <= memory_limit_bytes()) return;
  // The parts of the count, largest first, so that the field to change leads the message.
  const int64_t block = parameter_count(c.block, op);
  std::vector<std::pair<int64_t, std::string>> parts = {
      {c.n_layer * block, fmt::format("n_layer {} × {} parameters a block (n_embd {}, n_inner {})", c.n_layer, block, C,
                                      c.block.n_inner)},
      {c.vocab_size * C, fmt::format("vocab_size {} × n_embd {}", c.vocab_size, C)},
      {c.n_ctx * C, fmt::format("n_positions {} × n_embd {}", c.n_ctx, C)},
  };
  if (c.block.norm == Norm::pre) parts.push_back({2 * C, fmt::format("2 × n_embd {} (ln_f)", C)});
  std::stable_sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string sum;
  for (const auto& [count, text] : parts) sum += (sum.empty() ? "" : " + ") + text;
  const char* dtype = bytes_per_parameter == 4 ? "f32" : bytes_per_parameter == 8 ? "f64" : "?";
  const std::string what = fmt::format("{} = {} parameters; the model as {}", sum, n, dtype);
  if (past_int64) fail(op, "{} needs more than 2^63 - 1 bytes (8 EiB)", what);
  check_memory(bytes, op, what);
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
