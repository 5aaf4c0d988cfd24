// One optimizer step and one Gauss-Newton-Bartlett refresh, shared by the
// training loop and the benchmark.
#pragma once
#include <cstdint>
#include <vector>

#include "data.hpp"
#include "gpt2.hpp"
#include "optimizer.hpp"

namespace sk {

struct StepResult {
  double loss, grad_norm, clip_rate;  // clip_rate: -1 for optimizers that do not clip
};

// Gradients summed over the micro-batches, clipped to norm `clip` (0: off),
// then one update at learning rate lr.
StepResult optimizer_step(GPT2<float>& model, Optimizer& optimizer, const std::vector<SequenceBatch>& micro,
                          double lr, double clip, long step);

struct HessianResult {
  double ghat_norm, h_l1, h_l2;
};

// Backpropagates labels drawn from the model's own softmax (keyed on `key` and
// each row's sequence number) on the micro-batches, clips that gradient like
// the training gradient, and refreshes the optimizer's Hessian estimate.
HessianResult hessian_refresh(GPT2<float>& model, Optimizer& optimizer, const std::vector<SequenceBatch>& micro,
                              double clip, std::uint64_t key);

}  // namespace sk
