// tests/train/toy_data.h — the pre-training data directory the pretrain and crash tests share: a
// learnable toy language (counting modulo 50 with a random stride per 12-token "document", so
// the next token is predictable from the previous two), 4,400 training and 400 validation
// tokens, meta.json with vocab_size 50 and no tokenizer/ (the shards are written directly); and
// the smallest GPT worth training on it (2 layers of 16 channels, 2 heads, context 16: ~6k
// parameters, a step in about a millisecond), for tests that run many short runs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "tensor/ops.h"
#include "train/shards.h"

namespace kiso::testing {

inline void write_toy_data(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::vector<int32_t> tokens;
  Generator gen{3};
  std::vector<float> u = rand({400}, gen).to_vector<float>();
  for (float x : u) {
    int32_t stride = 1 + int32_t(x * 4), t = int32_t(x * 50);
    for (int i = 0; i < 12; ++i) tokens.push_back((t += stride) % 50);
  }
  std::vector<int32_t> train(tokens.begin(), tokens.end() - 400), val(tokens.end() - 400, tokens.end());
  write_shard(dir + "/train.bin", train);
  write_shard(dir + "/val.bin", val);
  write_file_atomic(dir + "/meta.json", R"({"vocab_size": 50, "train_tokens": 4400})");
}

// The smallest GPT for the toy data.
inline GPTConfig toy_gpt_config() {
  GPTConfig c;
  c.vocab_size = 50, c.n_ctx = 16, c.n_layer = 2;
  c.block.n_head = 2, c.block.n_embd = 16, c.block.n_inner = 32;
  return c;
}

// Its config.json.
inline void write_toy_config(const std::string& path) {
  write_file_atomic(path, config_to_json(toy_gpt_config()).dump(2) + "\n");
}

}  // namespace kiso::testing
