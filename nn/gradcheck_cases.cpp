// nn/gradcheck_cases.cpp — gradient checks of the modules (`kiso gradcheck` and the tests run
// them with the op cases). Each module is built in f64 and its parameters are swapped for
// the leaves gradcheck perturbs, so every parameter's gradient and the input's are checked.
#include "nn/gradcheck_cases.h"

#include "nn/modules.h"

namespace kiso {

// Replaces a module's parameters by the leaves xs[first], xs[first+1], ... in parameters() order.
template <class M> static void use_leaves(M& module, const std::vector<Variable>& xs, size_t first) {
  Parameters ps = module.parameters();
  for (size_t i = 0; i < ps.size(); ++i) *ps[i].variable = xs[first + i];
}

// The module's parameter values, in parameters() order, after `x`: the inputs of its case.
template <class M> static std::vector<Tensor> inputs_of(M& module, const Tensor& x) {
  std::vector<Tensor> in{x};
  for (const NamedParameter& p : module.parameters()) in.push_back(p.variable->value());
  return in;
}

template <class M, class F>
static GradcheckCase module_case(std::string name, std::string shapes, M module, Tensor x, F forward) {
  std::vector<Tensor> in = inputs_of(module, x);
  GradcheckFn f = [module, forward](const std::vector<Variable>& xs) mutable {
    use_leaves(module, xs, 1);
    return forward(module, xs[0]);
  };
  return {std::move(name), std::move(shapes), in, std::vector<bool>(in.size(), true), f};
}

std::vector<GradcheckCase> module_gradcheck_cases() {
  Generator gen{77};
  // std 0.5 rather than GPT's 0.02: larger weights make every gradient path contribute
  // visibly, so a wrong one cannot hide under the 1e-3 floor of the relative error.
  Init init{&gen, DType::f64, 0.5};
  auto x = [&](const Shape& s) { return randn(s, gen, DType::f64); };
  Mode eval = Mode::eval();
  std::vector<GradcheckCase> cases;

  cases.push_back(module_case("Linear", "x (2, 3, 5) -> 4", Linear(5, 4, init), x({2, 3, 5}),
                              [](const Linear& m, const Variable& v) { return m.forward(v); }));
  LayerNorm ln(6, 1e-5, init);
  ln.weight = Variable(randn({6}, gen, DType::f64), true);  // not all ones, so dgamma is general
  cases.push_back(module_case("LayerNorm", "x (3, 6)", ln, x({3, 6}),
                              [](const LayerNorm& m, const Variable& v) { return m.forward(v); }));
  BlockConfig attention{.n_embd = 6, .n_head = 2, .attn_pdrop = 0, .resid_pdrop = 0};
  cases.push_back(module_case("CausalSelfAttention", "x (2, 4, 6), 2 heads", CausalSelfAttention(attention, init),
                              x({2, 4, 6}),
                              [eval](const CausalSelfAttention& m, const Variable& v) { return m.forward(v, eval); }));
  BlockConfig dropped{.n_embd = 4, .n_head = 4, .attn_pdrop = 0.3, .resid_pdrop = 0.3};
  cases.push_back(module_case("CausalSelfAttention", "x (1, 3, 4), 4 heads of 1, dropout 0.3 (train)",
                              CausalSelfAttention(dropped, init), x({1, 3, 4}),
                              [](const CausalSelfAttention& m, const Variable& v) {
                                Generator g{5};  // the same masks at every evaluation
                                return m.forward(v, Mode::train(g));
                              }));
  BlockConfig mlp{.n_embd = 4, .n_inner = 7, .resid_pdrop = 0, .activation = GeluKind::tanh};
  cases.push_back(module_case("MLP", "x (2, 3, 4) -> 7 -> 4, gelu tanh", MLP(mlp, init), x({2, 3, 4}),
                              [eval](const MLP& m, const Variable& v) { return m.forward(v, eval); }));
  for (Norm norm : {Norm::post, Norm::pre}) {
    BlockConfig block{.n_embd = 6, .n_head = 2, .n_inner = 10, .attn_pdrop = 0, .resid_pdrop = 0,
                      .layer_norm_epsilon = 1e-5, .activation = GeluKind::tanh, .norm = norm};
    cases.push_back(module_case("Block", norm == Norm::pre ? "x (2, 3, 6), pre-LN" : "x (2, 3, 6), post-LN (GPT-1)",
                                Block(block, init), x({2, 3, 6}),
                                [eval](const Block& m, const Variable& v) { return m.forward(v, eval); }));
  }
  return cases;
}

}  // namespace kiso
