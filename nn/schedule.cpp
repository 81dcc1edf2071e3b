// nn/schedule.cpp — LRSchedule::at, the formulas stated in nn/schedule.h.
#include "nn/schedule.h"

#include <cmath>
#include <numbers>

#include "base/check.h"

namespace kiso {

std::string to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::warmup_cosine: return "warmup_cosine";
    case ScheduleKind::warmup_linear: return "warmup_linear";
  }
  return "unknown";
}

void LRSchedule::validate() const {
  const char* op = "LRSchedule";
  check(max_lr >= 0 && std::isfinite(max_lr), op, "max_lr must be a finite number >= 0, got {}", max_lr);
  check(warmup_steps >= 0, op, "warmup_steps must be >= 0, got {}", warmup_steps);
  check(total_steps >= warmup_steps, op,
        "total_steps ({}) is smaller than warmup_steps ({}); the warmup must fit in the run", total_steps,
        warmup_steps);
}

double LRSchedule::at(int64_t step) const {
  validate();
  check(step >= 0, "LRSchedule::at", "steps count from 0, got {}", step);
  if (kind == ScheduleKind::constant) return max_lr;
  if (step < warmup_steps) return max_lr * double(step + 1) / double(warmup_steps);  // linear warmup
  if (step >= total_steps) return 0.0;                                             // decayed to 0
  // Here W <= step < N, so N − W >= 1 and progress lies in [0, 1).
  double progress = double(step - warmup_steps) / double(total_steps - warmup_steps);
  if (kind == ScheduleKind::warmup_cosine) return max_lr * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return max_lr * (1.0 - progress);  // warmup_linear
}

}  // namespace kiso
