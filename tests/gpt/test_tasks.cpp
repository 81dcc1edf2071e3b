// tests/gpt/test_tasks.cpp — GPT-1's fine-tuning transformations and heads. Oracles: the
// paper's Figure 1 formats written out by hand; a padded batch against each example alone
// (the head must read the EXTRACT token, wherever it is); finite differences for every head
// with the auxiliary LM loss on.
#include <doctest/doctest.h>

#include "gpt/gradcheck_cases.h"
#include "gpt/tasks.h"

using namespace kiso;

static const SpecialIds S{90, 91, 92, 0};  // start, delim, extract, pad

TEST_SUITE("gpt") {

TEST_CASE("transform: the four input formats of GPT-1's Figure 1") {
  using Seqs = std::vector<std::vector<int32_t>>;
  CHECK(transform(TaskKind::classification, {{{1, 2, 3}}, 0}, S, 16) == Seqs{{90, 1, 2, 3, 92}});
  CHECK(transform(TaskKind::entailment, {{{1, 2}, {3}}, 0}, S, 16) == Seqs{{90, 1, 2, 91, 3, 92}});
  CHECK(transform(TaskKind::similarity, {{{1, 2}, {3}}, 0}, S, 16) == Seqs{{90, 1, 2, 91, 3, 92}, {90, 3, 91, 1, 2, 92}});
  CHECK(transform(TaskKind::multiple_choice, {{{1}, {2, 3}, {4}}, 1}, S, 16) ==
        Seqs{{90, 1, 91, 2, 3, 92}, {90, 1, 91, 4, 92}});
}

TEST_CASE("transform: truncation cuts the longest text, never a special token") {
  // 8 - 3 specials leaves 5 text tokens for a 6-token premise and a 3-token hypothesis. One
  // token at a time from the end of the longest (the first of equals): lengths 6,3 -> 5,3 ->
  // 4,3 -> 3,3 -> 2,3.
  auto seqs = transform(TaskKind::entailment, {{{1, 2, 3, 4, 5, 6}, {7, 8, 9}}, 0}, S, 8);
  CHECK(seqs == std::vector<std::vector<int32_t>>{{90, 1, 2, 91, 7, 8, 9, 92}});
  CHECK(seqs[0].size() == 8);
  CHECK_THROWS_WITH_AS(transform(TaskKind::entailment, {{{1}, {2}}, 0}, S, 3), doctest::Contains("leaves no room"), Error);
  CHECK_THROWS_WITH_AS(transform(TaskKind::entailment, {{{1}}, 0}, S, 8), doctest::Contains("needs 2 text(s), got 1"), Error);
  CHECK_THROWS_WITH_AS(transform(TaskKind::multiple_choice, {{{1}}, 0}, S, 8), doctest::Contains("at least one answer"), Error);
}

TEST_CASE("make_task_batch: padding, LM targets on real tokens only, EXTRACT positions") {
  TaskBatch b = make_task_batch(TaskKind::classification, {{{{5, 6, 7}}, 1}, {{{8}}, 0}}, S, 16);
  CHECK(b.ids.shape() == Shape{2, 5});
  CHECK(b.ids.to_vector<int32_t>() == std::vector<int32_t>{90, 5, 6, 7, 92, 90, 8, 92, 0, 0});
  CHECK(b.lm_targets.to_vector<int32_t>() == std::vector<int32_t>{5, 6, 7, 92, -100, 8, 92, -100, -100, -100});
  CHECK(b.extract.to_vector<int32_t>() == std::vector<int32_t>{4, 7});  // row 1: 1·5 + 2
  CHECK(b.labels.to_vector<int32_t>() == std::vector<int32_t>{1, 0});
  CHECK_THROWS_WITH_AS(make_task_batch(TaskKind::multiple_choice, {{{{1}, {2}, {3}}, 0}, {{{1}, {2}}, 0}}, S, 16),
                       doctest::Contains("example 1 has 1 candidates but example 0 has 2"), Error);
  CHECK_THROWS_WITH_AS(parse_task_kind("regression"), doctest::Contains("unknown task 'regression'"), Error);
  CHECK(parse_task_kind("multiple-choice") == TaskKind::multiple_choice);
}

TEST_CASE("the head reads each sequence's EXTRACT token: padded batch = each example alone") {
  GPTConfig c;
  c.vocab_size = 100, c.n_ctx = 16, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  c.initializer_range = 0.3;
  for (TaskKind kind : {TaskKind::classification, TaskKind::similarity, TaskKind::multiple_choice}) {
    Generator gen{5};
    GPT model(c, gen, DType::f64);
    TaskHead head(kind, 8, 3, 0.0, Init{&gen, DType::f64, 0.5});
    std::vector<TaskExample> ex = kind == TaskKind::multiple_choice
                                      ? std::vector<TaskExample>{{{{1, 2, 3, 4}, {5}, {6, 7, 8}}, 0}, {{{9}, {10}, {11}}, 1}}
                                  : kind == TaskKind::similarity
                                      ? std::vector<TaskExample>{{{{1, 2, 3, 4, 5}, {6}}, 0}, {{{7}, {8}}, 1}}
                                      : std::vector<TaskExample>{{{{1, 2, 3, 4, 5, 6}}, 0}, {{{7}}, 1}};
    auto logits_of = [&](const std::vector<TaskExample>& e) {
      TaskBatch b = make_task_batch(kind, e, S, 16);
      return task_logits(head, model.hidden_states(b.ids, Mode::eval()), b, Mode::eval()).value().to_vector<double>();
    };
    std::vector<double> both = logits_of(ex), first = logits_of({ex[0]}), second = logits_of({ex[1]});
    first.insert(first.end(), second.begin(), second.end());
    REQUIRE(both.size() == first.size());
    INFO(to_string(kind));
    for (size_t i = 0; i < both.size(); ++i) CHECK(both[i] == doctest::Approx(first[i]).epsilon(1e-12));
  }
}

TEST_CASE("finetune_loss: L3 = L2 + λ·L1, and λ = 0 leaves the task loss alone") {
  GPTConfig c;
  c.vocab_size = 100, c.n_ctx = 16, c.n_layer = 1, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  Generator gen{6};
  GPT model(c, gen, DType::f64);
  TaskHead head(TaskKind::entailment, 8, 3, 0.0, Init{&gen, DType::f64});
  TaskBatch b = make_task_batch(TaskKind::entailment, {{{{1, 2}, {3, 4}}, 2}, {{{5}, {6, 7, 8}}, 0}}, S, 16);
  FinetuneLoss with = finetune_loss(model, head, b, 0.5, Mode::eval());
  CHECK(with.total.value().item() == doctest::Approx(with.task + 0.5 * with.lm).epsilon(1e-12));
  CHECK(with.lm > 4.0);  // an untrained model: about ln 100 = 4.6
  FinetuneLoss without = finetune_loss(model, head, b, 0.0, Mode::eval());
  CHECK(without.total.value().item() == with.task);
}

TEST_CASE("every task head and the fine-tuning loss with λ > 0 pass gradcheck") {
  for (const GradcheckCase& k : task_gradcheck_cases()) {
    GradcheckResult r = gradcheck(k.f, k.inputs, k.wrt);
    INFO(k.op, " ", k.shapes, ": ", r.worst);
    CHECK(r.passed);
  }
}

TEST_CASE("add_token_rows keeps the pre-trained rows and appends new N(0, std) ones") {
  GPTConfig c;
  c.vocab_size = 10, c.n_ctx = 4, c.n_layer = 1, c.block.n_head = 1, c.block.n_embd = 400, c.block.n_inner = 8;
  Generator gen{7};
  GPT model(c, gen);
  std::vector<float> before = model.tokens_embed.weight.value().to_vector<float>();
  add_token_rows(model, 3, gen);
  CHECK(model.config.vocab_size == 13);
  CHECK(model.tokens_embed.weight.shape() == Shape{13, 400});
  std::vector<float> after = model.tokens_embed.weight.value().to_vector<float>();
  CHECK(std::equal(before.begin(), before.end(), after.begin()));
  double s2 = 0;
  for (size_t i = before.size(); i < after.size(); ++i) s2 += double(after[i]) * after[i];
  // 1200 draws: the sample sd is within ~4% of 0.02 (relative standard error 1/√2400 ≈ 2%).
  CHECK(std::sqrt(s2 / 1200) == doctest::Approx(0.02).epsilon(0.06));
  // The grown model runs on the new ids.
  CHECK(model.logits(from_vector(std::vector<int32_t>{12, 11}, {1, 2}), Mode::eval()).shape() == Shape{1, 2, 13});
}

}  // TEST_SUITE
