// nn/schedule.h — the learning rate as a function of the step: constant, or a linear warmup
// followed by a cosine or linear decay to zero.
//
// What it is: one plain struct and one formula per kind, evaluated by the training loop each
// step and handed to the optimizer's step(lr). What it is not: stateful. at(step) depends only
// on its argument, so resuming from a checkpoint needs nothing but the step count.
//
// GPT-1 (Radford et al. 2018): pre-training "increased linearly from zero over the first 2000
// updates and annealed to 0 using a cosine schedule" (warmup_cosine, max_lr 2.5e-4);
// fine-tuning used "a linear learning rate decay schedule with warmup over 0.2% of training"
// (warmup_linear, max_lr 6.25e-5).
// Read next: nn/optim.h.
#pragma once

#include <cstdint>
#include <string>

namespace kiso {

enum class ScheduleKind { constant, warmup_cosine, warmup_linear };

std::string to_string(ScheduleKind kind);  // "warmup_cosine"

// Steps count from 0 (the first update is step 0). With W = warmup_steps, N = total_steps:
//   warmup, step < W:      lr = max_lr · (step + 1) / W      (max_lr/W at step 0, max_lr at W − 1;
//                                                             never 0, which would waste an update)
//   decay, W <= step < N:  progress = (step − W) / (N − W), from 0 at step W towards 1 at N
//     warmup_cosine:       lr = max_lr · 0.5 · (1 + cos(π · progress))   (max_lr/2 half way)
//     warmup_linear:       lr = max_lr · (1 − progress)
//   step >= N:             lr = 0 (the decay has reached 0 at step N and stays there)
// constant is max_lr at every step; warmup_steps and total_steps are not used by it.
// at() checks the fields (0 <= W <= N, max_lr >= 0 and finite, step >= 0) and throws
// kiso::Error naming what is wrong.
struct LRSchedule {
  ScheduleKind kind = ScheduleKind::constant;
  double max_lr = 0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;

  double at(int64_t step) const;
  void validate() const;  // the field checks at() runs; call it early to fail at startup
};

}  // namespace kiso
