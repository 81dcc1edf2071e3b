// nn/optim.h — optimizers (AdamW, SGD) and gradient clipping over a model's parameter list.
//
// What it is: the loop over `Parameters` (nn/parameters.h) that keeps each parameter's state
// (AdamW's moments m and v, SGD's momentum buffer) and calls the in-place update kernels of
// tensor/ops.h (adamw_update, sgd_update, scale_inplace, sum_of_squares), which hold the maths.
// Parameters are updated in place: `Tensor t = p.variable->value();` shares storage with the
// Variable, so writing through t changes the parameter. No graph is recorded, and none of this
// is differentiable.
// What it is not: a parameter-group framework. There are no per-group options; the one choice
// that differs between parameters, which ones get weight decay, is a fixed rule (below).
// The learning rate is not part of the optimizer: the caller passes it to every step(lr), so
// the schedule (nn/schedule.h, its max_lr) is its one home.
//
// Reference: PyTorch's torch.optim.AdamW / torch.optim.SGD and torch.nn.utils.clip_grad_norm_.
// Read next: nn/schedule.h, then the training loop.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/parameters.h"
#include "tensor/ops.h"

namespace kiso {

// An optimizer's state for checkpoints: named tensors, e.g. {"m.h.0.attn.c_attn.weight", m}.
using OptimizerState = std::vector<std::pair<std::string, Tensor>>;

// GPT-1 pre-training (Radford et al. 2018, section 4.1): Adam with a max learning rate of
// 2.5e-4 and "a modified version of L2 regularization proposed in [37], with w = 0.01 on all
// non bias or gain weights" ([37] is Loshchilov & Hutter's decoupled weight decay, i.e. AdamW).
// The betas and eps are PyTorch's defaults; the paper does not give them.
struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  // Keeps the list (the module must outlive the optimizer) and zero m, v for each parameter,
  // each with the shape, dtype and device of the parameter's value.
  explicit AdamW(Parameters params, AdamWConfig config = {});

  // One update with learning rate lr of every parameter that has a gradient (parameters whose
  // grad() is undefined are skipped: frozen, or not reached by this backward). Weight decay
  // only on parameters of rank >= 2. Counts one step even if every parameter was skipped.
  // With grad_scale (clip_grad_factor's scale: one f64 on the parameters' device) every
  // gradient is read scaled by it, as if clip_grad_norm had scaled it first (the same bits).
  void step(double lr, const Tensor& grad_scale = Tensor());
  void zero_grad();  // forgets every parameter's gradient

  const AdamWConfig& config() const { return config_; }
  int64_t steps() const { return steps_; }  // updates made so far (the next one uses t = steps() + 1)

  // "m.<name>" and "v.<name>" for each parameter, in parameter order. The tensors are the
  // optimizer's own (not copies): save them, do not write into them.
  OptimizerState state() const;
  // Restores what state() returned and the step count. Every parameter needs exactly one
  // "m." and one "v." entry with its shape and dtype; unknown or missing names throw. The
  // values are copied (to the parameter's device). Nothing changes unless all of it is valid.
  void load_state(const OptimizerState& state, int64_t steps);

 private:
  Parameters params_;
  AdamWConfig config_;
  std::vector<Tensor> m_, v_;  // per parameter, like its value
  int64_t steps_ = 0;
};

// Plain SGD with optional momentum and L2 weight decay on every parameter (PyTorch's SGD
// applies weight_decay to all parameters of its group; there is no rank rule here).
struct SGDConfig {
  double momentum = 0.0;
  double weight_decay = 0.0;
};

class SGD {
 public:
  explicit SGD(Parameters params, SGDConfig config = {});

  void step(double lr);  // skips parameters without a gradient, like AdamW
  void zero_grad();

  const SGDConfig& config() const { return config_; }
  int64_t steps() const { return steps_; }

  // "momentum_buffer.<name>" for each parameter whose buffer exists (with momentum, after its
  // first update). load_state accepts any subset of those names: a parameter left out starts
  // its buffer afresh at its next update, as at the first step.
  OptimizerState state() const;
  void load_state(const OptimizerState& state, int64_t steps);

 private:
  Parameters params_;
  SGDConfig config_;
  std::vector<Tensor> momentum_buffer_;  // per parameter; undefined until its first update
  int64_t steps_ = 0;
};

// Gradient clipping by global norm, PyTorch's clip_grad_norm_: norm = √(Σ over all gradients
// of Σ g²); with coef = max_norm / (norm + 1e-6), every gradient is multiplied by coef when
// coef < 1 (that is, when norm exceeds max_norm by more than the 1e-6 guard). Returns the
// norm before clipping. A non-finite norm (an inf or NaN gradient) is returned without
// scaling anything: the trainer decides whether to skip the step. Parameters without a
// gradient are ignored.
double clip_grad_norm(const Parameters& params, double max_norm);

// The same clip without reading anything back from the device and without touching the
// gradients: the norm and the factor, each one f64 on the parameters' device (tensor/ops.h
// clip_factor). Pass `scale` to AdamW::step; read `norm` (item()) only to log it.
ClipFactor clip_grad_factor(const Parameters& params, double max_norm);

}  // namespace kiso
