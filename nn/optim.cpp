// nn/optim.cpp — AdamW, SGD and clip_grad_norm: the walk over the parameter list. The update
// maths is in tensor/ops_optim.cpp; this file decides what each parameter gets and keeps the
// state. AdamW and clipping hand the whole list to one multi-tensor call (one parallel pass over
// all parameters); SGD still calls its update per parameter.
#include "nn/optim.h"

#include <cmath>
#include <map>

namespace kiso {

// Every entry must point at a defined Variable; names must be unique (they key the state in
// checkpoints) and no two entries may share storage (a tied weight listed twice would be
// updated twice per step).
static void check_parameters(const char* op, const Parameters& params) {
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < params.size(); ++i) {
    const NamedParameter& p = params[i];
    check(p.variable != nullptr && p.variable->defined(), op, "parameter {} ('{}') has no Variable", i, p.name);
    auto [first, inserted] = seen.emplace(p.name, i);
    check(inserted, op, "parameter name '{}' appears twice (entries {} and {})", p.name, first->second, i);
    for (size_t j = 0; j < i; ++j)
      check(!p.variable->value().shares_storage_with(params[j].variable->value()), op,
            "parameters '{}' and '{}' share storage; list a tied weight once", params[j].name, p.name);
  }
}

// A copy of t on `device` that shares nothing with t.
static Tensor copy_to(const Tensor& t, Device device) { return t.device() == device ? t.clone() : t.to(device); }

// Matches checkpoint entries "<prefix><name>" to the parameters. Returns one row per prefix,
// one tensor per parameter (undefined where no entry named it). Throws on an unknown name, a
// name given twice, a shape or dtype that differs from the parameter's, or, with require_all,
// a missing entry. Nothing is copied yet, so a throw leaves the optimizer as it was.
static std::vector<std::vector<Tensor>> match_state(const char* op, const Parameters& params,
                                                    const OptimizerState& state,
                                                    const std::vector<std::string>& prefixes, bool require_all) {
  std::map<std::string, std::pair<size_t, size_t>> index;  // "<prefix><name>" -> (prefix, parameter)
  for (size_t k = 0; k < prefixes.size(); ++k)
    for (size_t i = 0; i < params.size(); ++i) index[prefixes[k] + params[i].name] = {k, i};

  std::vector<std::vector<Tensor>> out(prefixes.size(), std::vector<Tensor>(params.size()));
  for (const auto& [name, t] : state) {
    auto it = index.find(name);
    check(it != index.end(), op, "unknown entry '{}': expected '{}<parameter name>' for one of the {} parameters",
          name, prefixes[0], params.size());
    auto [k, i] = it->second;
    const Tensor& value = params[i].variable->value();
    check(!out[k][i].defined(), op, "entry '{}' appears twice", name);
    check(t.defined(), op, "entry '{}' is an undefined tensor", name);
    check(t.shape() == value.shape() && t.dtype() == value.dtype(), op,
          "entry '{}' is {} {} but parameter '{}' is {} {}", name, to_string(t.dtype()), shape_str(t.shape()),
          params[i].name, to_string(value.dtype()), shape_str(value.shape()));
    out[k][i] = t;
  }
  if (require_all)
    for (size_t k = 0; k < prefixes.size(); ++k)
      for (size_t i = 0; i < params.size(); ++i)
        check(out[k][i].defined(), op, "no entry '{}{}' (the state must cover every parameter)", prefixes[k],
              params[i].name);
  return out;
}

// ---- AdamW ----

AdamW::AdamW(Parameters params, AdamWConfig config) : params_(std::move(params)), config_(config) {
  check_parameters("AdamW", params_);
  check(config_.beta1 >= 0 && config_.beta1 < 1 && config_.beta2 >= 0 && config_.beta2 < 1 && config_.eps >= 0 &&
            config_.weight_decay >= 0,
        "AdamW", "expected betas in [0, 1) and eps, weight_decay >= 0, got beta1={} beta2={} eps={} weight_decay={}",
        config_.beta1, config_.beta2, config_.eps, config_.weight_decay);
  for (const NamedParameter& p : params_) {
    m_.push_back(zeros_like(p.variable->value()));
    v_.push_back(zeros_like(p.variable->value()));
  }
}

void AdamW::step(double lr, const Tensor& grad_scale) {
  int64_t t = steps_ + 1;
  std::vector<AdamWSlot> slots;  // every parameter with a gradient, updated in one pass
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& var = *params_[i].variable;
    if (!var.grad().defined()) continue;
    // The paper's rule: weight decay on "all non bias or gain weights". Matrices and
    // embeddings have rank >= 2; biases and LayerNorm gains and biases have rank 1.
    double weight_decay = var.value().dim() >= 2 ? config_.weight_decay : 0.0;
    // value() shares storage with the Variable, m_ and v_ are ours: all updated in place
    slots.push_back({var.value(), var.grad(), m_[i], v_[i],
                     {lr, config_.beta1, config_.beta2, config_.eps, weight_decay, t}});
  }
  adamw_update(slots, grad_scale);  // on cuda one launch per 40 parameters
  steps_ = t;
}

void AdamW::zero_grad() {
  for (NamedParameter& p : params_) p.variable->zero_grad();
}

OptimizerState AdamW::state() const {
  OptimizerState out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("m." + params_[i].name, m_[i]);
    out.emplace_back("v." + params_[i].name, v_[i]);
  }
  return out;
}

void AdamW::load_state(const OptimizerState& state, int64_t steps) {
  const char* op = "AdamW::load_state";
  check(steps >= 0, op, "the step count must be >= 0, got {}", steps);
  auto mv = match_state(op, params_, state, {"m.", "v."}, /*require_all=*/true);
  for (size_t i = 0; i < params_.size(); ++i) {
    Device device = params_[i].variable->value().device();
    m_[i] = copy_to(mv[0][i], device);
    v_[i] = copy_to(mv[1][i], device);
  }
  steps_ = steps;
}

// ---- SGD ----

SGD::SGD(Parameters params, SGDConfig config)
    : params_(std::move(params)), config_(config), momentum_buffer_(params_.size()) {
  check_parameters("SGD", params_);
  check(config_.momentum >= 0 && config_.weight_decay >= 0, "SGD",
        "momentum and weight_decay must be >= 0, got momentum={} weight_decay={}", config_.momentum,
        config_.weight_decay);
}

void SGD::step(double lr) {
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& var = *params_[i].variable;
    if (!var.grad().defined()) continue;
    Tensor value = var.value();  // shares storage with the Variable: updated in place
    sgd_update(value, var.grad(), momentum_buffer_[i], lr, config_.momentum, config_.weight_decay);
  }
  ++steps_;
}

void SGD::zero_grad() {
  for (NamedParameter& p : params_) p.variable->zero_grad();
}

OptimizerState SGD::state() const {
  OptimizerState out;
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_buffer_[i].defined()) out.emplace_back("momentum_buffer." + params_[i].name, momentum_buffer_[i]);
  return out;
}

void SGD::load_state(const OptimizerState& state, int64_t steps) {
  const char* op = "SGD::load_state";
  check(steps >= 0, op, "the step count must be >= 0, got {}", steps);
  auto buffers = match_state(op, params_, state, {"momentum_buffer."}, /*require_all=*/false);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& b = buffers[0][i];
    momentum_buffer_[i] = b.defined() ? copy_to(b, params_[i].variable->value().device()) : Tensor();
  }
  steps_ = steps;
}

// ---- gradient clipping ----
// pass 1: the global norm √(Σ_params Σ g²), in double (a fixed tree, the same on both devices);
// pass 2: if it is too large, one common factor for every gradient, so the direction of the
// whole update is kept and only its length is capped. clip_grad_norm scales the gradients in
// place and returns the norm (a read from the device); clip_grad_factor leaves both on the
// device for AdamW::step to apply.
static std::vector<Tensor> gradients(const char* op, const Parameters& params) {
  std::vector<Tensor> grads;  // share storage with the Variables' gradients
  for (const NamedParameter& p : params) {
    check(p.variable != nullptr && p.variable->defined(), op, "parameter '{}' has no Variable", p.name);
    if (p.variable->grad().defined()) grads.push_back(p.variable->grad());
  }
  return grads;
}

double clip_grad_norm(const Parameters& params, double max_norm) {
  check(max_norm > 0 && std::isfinite(max_norm), "clip_grad_norm", "max_norm must be a positive finite number, got {}",
        max_norm);
  std::vector<Tensor> grads = gradients("clip_grad_norm", params);
  // one pass over all the gradients (tensor/ops_optim.cpp): norm and factor together
  ClipFactor f = clip_factor(grads, max_norm);
  double norm = f.norm.item(), scale = f.scale.item();
  // PyTorch's formula: coef = max_norm / (norm + 1e-6), clamped to at most 1. The 1e-6 keeps
  // the division safe when norm is 0 and leaves the clipped norm just under max_norm. An inf
  // or NaN norm gives scale 1: the gradients are left for the trainer to judge.
  if (scale != 1.0) scale_inplace(grads, scale);
  return norm;
}

ClipFactor clip_grad_factor(const Parameters& params, double max_norm) {
  return clip_factor(gradients("clip_grad_factor", params), max_norm);
}

}  // namespace kiso
