// Learning rate at a step: linear warm-up from lr/warmup to lr, then cosine or
// linear decay to min_lr at the last step, or constant.
#pragma once
#include <cmath>

#include "deck.hpp"

namespace sk {

inline double learning_rate(const ScheduleConfig& s, double lr, long step, long total_steps) {
  if (step < s.warmup_steps) return lr * double(step + 1) / s.warmup_steps;
  if (s.kind == ScheduleKind::constant || total_steps <= s.warmup_steps + 1) return lr;
  const double progress = double(step - s.warmup_steps) / double(total_steps - 1 - s.warmup_steps);
  if (s.kind == ScheduleKind::linear) return lr - (lr - s.min_lr) * progress;
  return s.min_lr + 0.5 * (1 + std::cos(M_PI * progress)) * (lr - s.min_lr);
}

}  // namespace sk
