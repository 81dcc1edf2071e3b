// gpt/tasks.cpp — input transformations, batches, task heads and the fine-tuning loss (see
// tasks.h for the four formats and the objective).
#include "gpt/tasks.h"

#include <algorithm>
#include <numeric>

namespace kiso {

TaskKind parse_task_kind(const std::string& name) {
  if (name == "classification") return TaskKind::classification;
  if (name == "entailment") return TaskKind::entailment;
  if (name == "similarity") return TaskKind::similarity;
  if (name == "multiple-choice" || name == "multiple_choice") return TaskKind::multiple_choice;
  fail("task", "unknown task '{}'; expected classification, entailment, similarity or multiple-choice", name);
}

std::string to_string(TaskKind kind) {
  switch (kind) {
    case TaskKind::classification: return "classification";
    case TaskKind::entailment: return "entailment";
    case TaskKind::similarity: return "similarity";
    case TaskKind::multiple_choice: return "multiple-choice";
  }
  return "?";
}

// ---- input transformations ----

// Cuts the texts of one sequence until they fit `budget` tokens together: one token at a time
// from the end of the currently longest text (the first of equals), so that a long text gives
// way before a short one does.
static void truncate_texts(std::vector<std::vector<int32_t>>& texts, int64_t budget) {
  auto total = [&] {
    return std::accumulate(texts.begin(), texts.end(), int64_t(0), [](int64_t n, const auto& t) { return n + int64_t(t.size()); });
  };
  for (int64_t excess = total() - budget; excess > 0; --excess) {
    auto longest = std::max_element(texts.begin(), texts.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
    longest->pop_back();
  }
}

// <s> texts[0] <$> texts[1] ... <e>, cut to max_len in the texts only.
static std::vector<int32_t> frame(std::vector<std::vector<int32_t>> texts, const SpecialIds& s, int64_t max_len) {
  int64_t specials = int64_t(texts.size()) + 1;  // start, a delimiter between texts, extract
  check(max_len > specials, "transform", "max_len {} leaves no room for text between {} special tokens", max_len,
        specials);
  truncate_texts(texts, max_len - specials);
  std::vector<int32_t> seq{s.start};
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i > 0) seq.push_back(s.delim);
    seq.insert(seq.end(), texts[i].begin(), texts[i].end());
  }
  seq.push_back(s.extract);
  return seq;
}

std::vector<std::vector<int32_t>> transform(TaskKind kind, const TaskExample& ex, const SpecialIds& s, int64_t max_len) {
  const auto& p = ex.pieces;
  size_t want = kind == TaskKind::classification ? 1 : 2;
  check(kind == TaskKind::multiple_choice ? p.size() >= 2 : p.size() == want, "transform",
        "a {} example needs {} text(s), got {}", to_string(kind),
        kind == TaskKind::multiple_choice ? "a context and at least one answer: 2 or more" : std::to_string(want),
        p.size());
  switch (kind) {
    case TaskKind::classification: return {frame({p[0]}, s, max_len)};
    case TaskKind::entailment: return {frame({p[0], p[1]}, s, max_len)};
    case TaskKind::similarity: return {frame({p[0], p[1]}, s, max_len), frame({p[1], p[0]}, s, max_len)};
    case TaskKind::multiple_choice: {
      std::vector<std::vector<int32_t>> seqs;
      for (size_t k = 1; k < p.size(); ++k) seqs.push_back(frame({p[0], p[k]}, s, max_len));
      return seqs;
    }
  }
  return {};
}

TaskBatch make_task_batch(TaskKind kind, const std::vector<TaskExample>& examples, const SpecialIds& s,
                          int64_t max_len) {
  check(!examples.empty(), "make_task_batch", "no examples");
  std::vector<std::vector<int32_t>> rows;
  std::vector<int32_t> labels;
  int64_t per_example = 0;
  for (size_t e = 0; e < examples.size(); ++e) {
    std::vector<std::vector<int32_t>> seqs = transform(kind, examples[e], s, max_len);
    check(e == 0 || int64_t(seqs.size()) == per_example, "make_task_batch",
          "example {} has {} candidates but example 0 has {}; a batch needs the same number", e, seqs.size() , per_example);
    per_example = int64_t(seqs.size());
    rows.insert(rows.end(), seqs.begin(), seqs.end());
    labels.push_back(examples[e].label < 0 ? -100 : int32_t(examples[e].label));  // -100: no label (ignored)
  }
  int64_t N = int64_t(rows.size()), T = 0;
  for (const auto& r : rows) T = std::max(T, int64_t(r.size()));
  std::vector<int32_t> ids(static_cast<size_t>(N * T), s.pad), targets(static_cast<size_t>(N * T), -100);
  std::vector<int32_t> extract(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const auto& r = rows[size_t(n)];
    int64_t len = int64_t(r.size());
    for (int64_t t = 0; t < len; ++t) ids[size_t(n * T + t)] = r[size_t(t)];
    for (int64_t t = 0; t + 1 < len; ++t) targets[size_t(n * T + t)] = r[size_t(t + 1)];  // next real token
    extract[size_t(n)] = int32_t(n * T + len - 1);  // EXTRACT is the last real token of every row
  }
  return {from_vector(ids, {N, T}), from_vector(targets, {N, T}), from_vector(extract, {N}),
          from_vector(labels, {int64_t(examples.size())}), int64_t(examples.size()), per_example};
}

// ---- the head ----

TaskHead::TaskHead(TaskKind kind_, int64_t n_embd, int64_t classes, double p, const Init& init)
    : kind(kind_), linear(n_embd, kind_ == TaskKind::multiple_choice ? 1 : classes, init), dropout{p} {
  check(kind_ == TaskKind::multiple_choice || classes >= 2, "TaskHead", "a {} head needs at least 2 classes, got {}",
        to_string(kind_), classes);
}

Parameters TaskHead::parameters() {
  Parameters out;
  append_parameters(out, "linear", linear.parameters());
  return out;
}

Variable task_logits(const TaskHead& head, const Variable& hidden, const TaskBatch& batch, const Mode& mode) {
  int64_t N = hidden.shape()[0], T = hidden.shape()[1], C = hidden.shape()[2], E = batch.examples;
  // h_l^m: the final hidden state at each row's EXTRACT token, gathered as rows of (N·T, C).
  Variable h = embedding(reshape(hidden, {N * T, C}), batch.extract);  // (N, C)
  if (head.kind == TaskKind::similarity) {  // h_AB + h_BA: the two orderings of each example
    Variable pairs = reshape(h, {E, 2, C});
    h = reshape(slice(pairs, 1, 0, 1) + slice(pairs, 1, 1, 2), {E, C});  // (E, C)
  }
  Variable out = head.linear.forward(head.dropout.forward(h, mode));    // (E, classes) or (N, 1)
  if (head.kind == TaskKind::multiple_choice) out = reshape(out, {E, batch.per_example});  // (E, K) scores
  return out;
}

FinetuneLoss finetune_loss(const GPT& model, const TaskHead& head, const TaskBatch& batch, double lm_coef,
                           const Mode& mode) {
  check(lm_coef >= 0, "finetune_loss", "lm_coef must be >= 0, got {}", lm_coef);
  Variable hidden = model.hidden_states(batch.ids, mode);                     // (N, T, C)
  Variable task = cross_entropy(task_logits(head, hidden, batch, mode), batch.labels);  // L2
  FinetuneLoss out{task, task.value().item(), 0};
  if (lm_coef > 0) {  // L1 on the same sequences, real tokens only (padding targets are -100)
    Variable lm = cross_entropy(reshape(model.lm_head(hidden), {-1, model.config.vocab_size}),
                                batch.lm_targets.reshape({-1}));
    out.lm = lm.value().item();
    out.total = task + mul(lm, lm_coef);  // L3 = L2 + λ·L1
  }
  return out;
}

void add_token_rows(GPT& model, int64_t count, Generator& gen, double std) {
  check(count >= 0, "add_token_rows", "count must be >= 0, got {}", count);
  if (count == 0) return;
  const Tensor& old = model.tokens_embed.weight.value();  // (V, C)
  Tensor rows = mul(randn({count, old.size(1)}, gen, old.dtype()), std);  // (count, C)
  model.tokens_embed.weight = Variable(concat({old, rows}, 0), true);     // (V + count, C)
  model.config.vocab_size += count;
}

}  // namespace kiso
