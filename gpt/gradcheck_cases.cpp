// gpt/gradcheck_cases.cpp — the whole-model gradient checks: every parameter of a tiny GPT in
// f64, through embeddings, every block and the tied head into the loss; and every task head
// with the fine-tuning loss L3 = L2 + λ·L1.
#include "gpt/gradcheck_cases.h"

#include "gpt/model.h"
#include "gpt/tasks.h"

namespace kiso {

// A model small enough that 4 loss evaluations per parameter (the five-point stencil) stay fast.
static GPTConfig tiny_check_config(Norm norm) {
  GPTConfig c;
  c.vocab_size = 11, c.n_ctx = 6, c.n_layer = 2;
  c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 12, c.block.norm = norm;
  c.embd_pdrop = c.block.attn_pdrop = c.block.resid_pdrop = 0.1;
  c.initializer_range = 0.3;  // larger than 0.02 so every path carries a visible gradient
  return c;
}

static GradcheckCase model_case(Norm norm, bool training) {
  Generator gen{123};
  GPT model(tiny_check_config(norm), gen, DType::f64);
  Tensor ids = from_vector(std::vector<int32_t>{3, 0, 7, 7, 10, 1, 4, 2, 9, 5}, {2, 5});
  Tensor targets = from_vector(std::vector<int32_t>{0, 7, 7, 10, -100, 4, 2, 9, 5, 3}, {2, 5});
  std::vector<Tensor> in;
  for (const NamedParameter& p : model.parameters()) in.push_back(p.variable->value());
  GradcheckFn f = [model, ids, targets, training](const std::vector<Variable>& xs) mutable {
    Parameters ps = model.parameters();
    for (size_t i = 0; i < ps.size(); ++i) *ps[i].variable = xs[i];
    Generator dropout_rng{9};  // the same dropout masks at every evaluation
    return model.loss(ids, targets, training ? Mode::train(dropout_rng) : Mode::eval());
  };
  int64_t n = 0;
  for (const Tensor& t : in) n += t.numel();
  std::string shapes = fmt::format("{} parameters, {}, ids (2, 5){}", n, norm == Norm::post ? "post-LN" : "pre-LN",
                                   training ? ", dropout 0.1 (train)" : "");
  return {"GPT (whole model)", shapes, in, std::vector<bool>(in.size(), true), f};
}

std::vector<GradcheckCase> model_gradcheck_cases() {
  return {model_case(Norm::post, false), model_case(Norm::post, true), model_case(Norm::pre, false)};
}

// Each head and the fine-tuning loss with lm_coef > 0, on a one-layer model (gpt/tasks.h).
std::vector<GradcheckCase> task_gradcheck_cases() {
  std::vector<GradcheckCase> cases;
  GPTConfig c;
  c.vocab_size = 11, c.n_ctx = 10, c.n_layer = 1, c.block.n_head = 1, c.block.n_embd = 4, c.block.n_inner = 6;
  c.initializer_range = 0.3;  // large enough that every path carries a visible gradient, small
                              // enough that the five-point stencil stays far below 1e-6
  SpecialIds s{8, 9, 10, 0};
  struct Case {
    TaskKind kind;
    int64_t classes;
    std::vector<TaskExample> examples;
  };
  std::vector<Case> all = {
      {TaskKind::classification, 3, {{{{1, 2, 3}}, 2}, {{{4, 5}}, 0}}},
      {TaskKind::entailment, 3, {{{{1, 2}, {3, 4, 5}}, 1}, {{{6}, {7, 1}}, 2}}},
      {TaskKind::similarity, 2, {{{{1, 2}, {3}}, 1}, {{{4, 5, 6}, {7}}, 0}}},
      {TaskKind::multiple_choice, 0, {{{{1, 2}, {3}, {4, 5}, {6}}, 2}, {{{7}, {1, 1}, {2}, {3, 4}}, 0}}},
  };
  for (const Case& k : all) {
    Generator gen{31};
    GPT model(c, gen, DType::f64);
    TaskHead head(k.kind, c.block.n_embd, k.classes, 0.1, Init{&gen, DType::f64, 0.3});
    TaskBatch batch = make_task_batch(k.kind, k.examples, s, c.n_ctx);
    std::vector<Tensor> in;
    for (const NamedParameter& p : model.parameters()) in.push_back(p.variable->value());
    for (const NamedParameter& p : head.parameters()) in.push_back(p.variable->value());
    GradcheckFn f = [model, head, batch](const std::vector<Variable>& xs) mutable {
      Parameters ps = model.parameters(), hs = head.parameters();
      for (size_t i = 0; i < ps.size(); ++i) *ps[i].variable = xs[i];
      for (size_t i = 0; i < hs.size(); ++i) *hs[i].variable = xs[ps.size() + i];
      Generator dropout_rng{3};  // the same masks at every evaluation
      return finetune_loss(model, head, batch, 0.5, Mode::train(dropout_rng)).total;
    };
    cases.push_back({"finetune " + to_string(k.kind),
                     fmt::format("{} examples x {} sequences, lm_coef 0.5, dropout 0.1 (train)", batch.examples,
                                 batch.per_example),
                     in, std::vector<bool>(in.size(), true), f});
  }
  return cases;
}

}  // namespace kiso
