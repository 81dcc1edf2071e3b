// train/sample.h — text generation from a trained GPT: temperature, top-k and top-p sampling.
//
// Each new token: logits of the last position (the model sees at most its n_ctx last tokens),
// divided by the temperature; keep the k most likely (top-k) and the smallest set whose
// probability reaches p (top-p, "nucleus", Holtzman et al. 2020); renormalise; draw one token
// with kiso's Philox stream, so a seed gives the same text on any machine. Temperature 0 is
// greedy (the most likely token).
// With use_cache (the default) each layer's keys and values are kept (gpt/model.h KVCache), so
// a new token costs one position's forward pass; once the context is full the window slides
// and the cache is rebuilt from the last n_ctx tokens, exactly what the uncached path computes.
#pragma once

#include <vector>

#include "gpt/model.h"

namespace kiso {

struct SampleOptions {
  int64_t max_new_tokens = 100;
  double temperature = 1.0;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  double top_p = 1.0;        // 1: no limit
  uint64_t seed = 42;
  int32_t stop_token = -1;   // stop after generating this id (e.g. <|endoftext|>); -1: never
  bool use_cache = true;     // false: run the whole window for every token (the test oracle)
};

// The prompt's ids followed by the generated ones.
std::vector<int32_t> generate(const GPT& model, const std::vector<int32_t>& prompt, const SampleOptions& options);

// The index drawn from `logits` (V,) under the options' temperature, top-k and top-p, with the
// uniform number u in [0, 1). Separate so it can be tested without a model.
int32_t sample_from_logits(const std::vector<float>& logits, const SampleOptions& options, double u);

}  // namespace kiso
