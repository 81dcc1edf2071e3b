// train/sample.cpp — temperature / top-k / top-p sampling (see sample.h).
#include "train/sample.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kiso {

int32_t sample_from_logits(const std::vector<float>& logits, const SampleOptions& o, double u) {
  check(!logits.empty(), "sample", "no logits");
  check(std::isfinite(o.temperature) && o.temperature >= 0 && o.top_k >= 0 && o.top_p > 0 && o.top_p <= 1, "sample",
        "expected a finite temperature >= 0, top_k >= 0 and 0 < top_p <= 1; got {}, {}, {}", o.temperature, o.top_k,
        o.top_p);
  if (o.temperature == 0) return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  // Candidates by decreasing logit.
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  size_t keep = o.top_k > 0 ? std::min(order.size(), size_t(o.top_k)) : order.size();
  // Softmax at the temperature over the kept candidates (max first, so exp never overflows).
  std::vector<double> p(keep);
  double top = logits[size_t(order[0])], total = 0;
  for (size_t i = 0; i < keep; ++i) total += p[i] = std::exp((logits[size_t(order[i])] - top) / o.temperature);
  // Top-p: the shortest prefix whose probability reaches p.
  double mass = 0;
  size_t cut = keep;
  for (size_t i = 0; i < keep; ++i) {
    mass += p[i] / total;
    if (mass >= o.top_p) {
      cut = i + 1;
      break;
    }
  }
  double kept = std::accumulate(p.begin(), p.begin() + long(cut), 0.0);
  // Invert the cumulative distribution at u.
  double target = u * kept, acc = 0;
  for (size_t i = 0; i < cut; ++i) {
    acc += p[i];
    if (target < acc) return order[i];
  }
  return order[cut - 1];
}

std::vector<int32_t> generate(const GPT& model, const std::vector<int32_t>& prompt, const SampleOptions& o) {
  check(!prompt.empty(), "generate", "the prompt is empty: give at least one token (e.g. <|endoftext|>)");
  check(o.max_new_tokens >= 0, "generate", "max_new_tokens must be >= 0, got {}", o.max_new_tokens);
  NoGradGuard no_grad;
  std::vector<int32_t> ids = prompt;
  int64_t V = model.config.vocab_size, ctx = model.config.n_ctx;
  Generator gen{o.seed};
  KVCache cache;
  for (int64_t n = 0; n < o.max_new_tokens; ++n) {
    // The last n_ctx tokens are all the model can see. With the cache, feed only the tokens it
    // has not seen, unless the window has slid (then start the cache again on the window).
    size_t start = ids.size() > size_t(ctx) ? ids.size() - size_t(ctx) : 0;
    if (!o.use_cache || start > 0 || ids.size() <= size_t(cache.length)) cache = KVCache{};
    size_t first_new = o.use_cache ? start + size_t(cache.length) : start;
    std::vector<int32_t> window(ids.begin() + long(first_new), ids.end());
    int64_t T = int64_t(window.size());
    KVCache* kv = o.use_cache ? &cache : nullptr;
    Tensor logits = model.logits(from_vector(window, {1, T}), Mode::eval(), kv).value();  // (1, T, V)
    std::vector<float> last = slice(logits, 1, T - 1, T).to_vector<float>();  // (V,), from either device
    double u = rand({1}, gen, DType::f64).item();
    int32_t next = sample_from_logits(last, o, u);
    check(next >= 0 && next < V, "generate", "sampled id {} outside the vocabulary {}", next, V);
    ids.push_back(next);
    if (next == o.stop_token) break;
  }
  return ids;
}

}  // namespace kiso
