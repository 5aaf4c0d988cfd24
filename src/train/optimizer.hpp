// Optimizers over the flat parameter buffer: AdamW and Sophia-G. Each updates,
// and keeps state (m, and v or h) for, one contiguous range of the buffer: all
// of it, or one rank's partition when the optimizer state is partitioned (ZeRO-1).
// Weight decay applies to the 2-D tensors (matmul weights, token and position
// embeddings) and not to biases or LayerNorm parameters.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "views.hpp"
#include "deck.hpp"
#include "parameters.hpp"

namespace sk {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of params[partition] from grads[partition] * grad_scale (grad_scale
  // folds in the averaging and gradient clipping); params and grads are the
  // whole flat buffers. step counts from 0. Returns how many coordinates had
  // their step clipped, or -1 if the optimizer does not clip.
  virtual long step(View1<float> params, View1<float> grads, double lr, double grad_scale, long step) = 0;

  // Sophia-G refreshes its Hessian estimate after the update of some steps.
  virtual bool wants_hessian(long /*step*/) const { return false; }
  // h <- beta2 h + (1 - beta2) (ghat * scale)^2 over the partition; returns
  // sum |h| and sum h^2 over the partition.
  virtual std::pair<double, double> update_hessian(View1<float> /*ghat*/, double /*scale*/) { return {0, 0}; }

  // The optimizer state of the partition by name ("exp_avg", "exp_avg_sq" or "hessian").
  virtual std::vector<std::pair<std::string, View1<float>>> state() = 0;
};

// tokens_per_step is N of Sophia-G's update: tokens in one optimizer step over
// all ranks and micro-batches.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParameterLayout& layout,
                                          double tokens_per_step, Partition partition);

}  // namespace sk
