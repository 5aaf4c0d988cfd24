// Optimizers over the flat parameter buffer: AdamW and Sophia-G. The state
// (m, and v or h) has the parameters' layout. Weight decay applies to the 2-D
// tensors (matmul weights, token and position embeddings) and not to biases or
// LayerNorm parameters.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../kernels/views.hpp"
#include "deck.hpp"
#include "parameters.hpp"

namespace sk {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of params from grads * grad_scale (grad_scale folds in the
  // micro-batch average and gradient clipping). step counts from 0. Returns
  // the fraction of coordinates whose step was clipped, or -1 if the
  // optimizer does not clip.
  virtual double step(View1<float> params, View1<float> grads, double lr, double grad_scale, long step) = 0;

  // Sophia-G refreshes its Hessian estimate after the update of some steps.
  virtual bool wants_hessian(long /*step*/) const { return false; }
  // h <- beta2 h + (1 - beta2) (ghat * scale)^2; returns the L1 and L2 norms of h.
  virtual std::pair<double, double> update_hessian(View1<float> /*ghat*/, double /*scale*/) { return {0, 0}; }

  // The optimizer state by name ("exp_avg", "exp_avg_sq" or "hessian"), for checkpoints.
  virtual std::vector<std::pair<std::string, View1<float>>> state() = 0;
};

// tokens_per_step is N of Sophia-G's update: tokens in one optimizer step over
// all ranks and micro-batches.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParameterLayout& layout,
                                          double tokens_per_step);

}  // namespace sk
