// One optimizer step, one Gauss-Newton-Bartlett refresh and Sophia-H's
// refreshing step over this rank's slices of the step's micro-batches, shared by the training loop and the
// benchmark. Gradients are summed over micro-batches and ranks, then averaged
// and clipped inside the update.
#pragma once
#include <cstdint>
#include <vector>

#include "comm.hpp"
#include "data.hpp"
#include "gpt2.hpp"
#include "optimizer.hpp"

namespace sk {

// Seconds per phase, for the step line and the scaling studies.
struct StepTimes {
  double forward = 0, backward = 0, comm_wait = 0, optimizer = 0;
};

struct StepResult {
  double loss, grad_norm;  // over the global batch
  long clipped;            // coordinates whose step was clipped; -1 if the optimizer does not clip
  StepTimes times;
};

// Gradients summed over the micro-batches and ranks, clipped to norm `clip`
// (0: off), then one update at learning rate lr. A non-finite loss returns
// before the update.
StepResult optimizer_step(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                          const std::vector<SequenceBatch>& micro, double lr, double clip, long step);

struct HessianResult {
  double ghat_norm, h_l1, h_l2;
  StepTimes times;
};

// Sophia-G, after the update of a step that wants_hessian: backpropagates
// labels drawn from the model's own softmax (keyed on `key` and each row's
// global sequence number), averages that gradient over ranks before it is
// squared, clips it like the training gradient, and refreshes the
// optimizer's Hessian estimate.
HessianResult hessian_refresh(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                              const std::vector<SequenceBatch>& micro, double clip, std::uint64_t key);

// Sophia-H's step that wants_hessian: draws the probe u from `key`, takes
// exact Hessian-vector products H u on the first hessian_micro micro-batches
// (GPT2::hvp, whose passes give those micro-batches' gradients too), averages
// them over micro-batches and ranks, refreshes h from u * (H u) (ghat_norm is
// the norm of the mean H u), then updates as optimizer_step does with the
// new h. At the same parameters and batch, h and the update have the bits of
// a refresh after the previous step's update followed by optimizer_step.
struct RefreshedStep {
  StepResult step;
  HessianResult hessian;  // times.forward: the HVP passes
};
RefreshedStep refreshing_step(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                              const std::vector<SequenceBatch>& micro, std::size_t hessian_micro, std::uint64_t key,
                              double lr, double clip, long step);

}  // namespace sk
