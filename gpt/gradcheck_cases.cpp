// gpt/gradcheck_cases.cpp — the whole-model gradient check: every parameter of a tiny GPT in
// f64, through embeddings, every block and the tied head into the loss.
#include "autograd/gradcheck.h"
#include "gpt/model.h"

namespace kiso {

// A model small enough that 4 loss evaluations per parameter (the five-point stencil) stay fast.
static GPTConfig tiny_check_config(Norm norm) {
  GPTConfig c;
  c.vocab_size = 11, c.n_ctx = 6, c.n_layer = 2, c.n_head = 2, c.n_embd = 8, c.n_inner = 12, c.norm = norm;
  c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = 0.1;
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

}  // namespace kiso
