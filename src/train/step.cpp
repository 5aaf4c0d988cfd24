#include "step.hpp"

#include <cmath>

#include "optimizer_update.hpp"
#include "timer.hpp"

namespace sk {
namespace {

// Forward and backward over the micro-batches, the forward being
// forward(model, micro-batch) (which chooses the labels the gradient is
// against); the reductions over ranks start during the last backward.
// Returns the sum of the micro-batches' mean losses on this rank.
template <class Forward>
double accumulate_gradients(GPT2<float>& model, GradientReducer& reducer, const std::vector<SequenceBatch>& micro,
                            Forward forward, StepTimes& times) {
  model.zero_grad();
  double loss = 0;
  for (std::size_t m = 0; m < micro.size(); ++m) {
    auto t0 = Clock::now();
    loss += forward(model, micro[m]);
    times.forward += seconds_since(t0);
    t0 = Clock::now();
    const bool last = m + 1 == micro.size();
    const GPT2<float>::GradientsReady ready = [&reducer](std::size_t from) { reducer.ready(from); };
    model.backward(last ? ready : GPT2<float>::GradientsReady());
    times.backward += seconds_since(t0);
  }
  times.comm_wait += reducer.finish();
  return loss;
}

// The gradients' global norm and the scale that turns their sum over
// micro-batches and ranks into the mean, clipped to `clip` (0: off), on the
// device; only a partitioned sum of squares crosses ranks through the host.
void clip_gradients(Optimizer& optimizer, const View1<float>& grads, const GradientReducer& reducer,
                    std::size_t micro_batches, double clip) {
  optimizer.sum_gradient_squares(grads);
  if (reducer.partitioned()) optimizer.set_squares(sum_over_ranks(optimizer.squares()));
  optimizer.clip(double(micro_batches) * reducer.ranks(), clip);
}

}  // namespace

StepResult optimizer_step(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                          const std::vector<SequenceBatch>& micro, double lr, double clip, long step) {
  StepResult r{0, NAN, -1, {}};
  const auto against_targets = [](GPT2<float>& model, const SequenceBatch& b) {
    return model.forward(b.batch.inputs, b.batch.targets);
  };
  const double local = accumulate_gradients(model, reducer, micro, against_targets, r.times);
  r.loss = sum_over_ranks(local) / (double(micro.size()) * reducer.ranks());
  if (!std::isfinite(r.loss)) return r;  // the caller stops; nothing is updated
  const auto t0 = Clock::now();
  clip_gradients(optimizer, model.grads, reducer, micro.size(), clip);
  optimizer.step(model.params, model.grads, lr, step);
  reducer.gather_parameters(model.params);
  model.weights_changed();
  const StepStats stats = optimizer.stats();
  r.grad_norm = stats.grad_norm;
  r.clipped = long(stats.clipped);
  if (reducer.partitioned() && r.clipped >= 0) r.clipped = sum_over_ranks(r.clipped);
  r.times.optimizer = seconds_since(t0);
  return r;
}

HessianResult hessian_refresh(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                              const std::vector<SequenceBatch>& micro, double clip, std::uint64_t key) {
  HessianResult r{};
  // The step buffer's room for labels (StepBatches), not an allocation per refresh.
  auto labels = micro[0].labels;
  if (labels.extent(0) == 0)
    labels = decltype(labels)("sampled_labels", micro[0].batch.inputs.extent(0), micro[0].batch.inputs.extent(1));
  const auto sampled = [&](GPT2<float>& model, const SequenceBatch& b) {
    return model.forward(b.batch.inputs, b.batch.targets, {labels, b.sequences, key});
  };
  accumulate_gradients(model, reducer, micro, sampled, r.times);
  const auto t0 = Clock::now();
  clip_gradients(optimizer, model.grads, reducer, micro.size(), clip);
  optimizer.update_hessian(model.grads);
  const StepStats stats = optimizer.stats();
  double l1 = stats.h_l1, squares = stats.h_l2sq;
  if (reducer.partitioned()) {
    l1 = sum_over_ranks(l1);
    squares = sum_over_ranks(squares);
  }
  r.ghat_norm = stats.grad_norm;
  r.h_l1 = l1;
  r.h_l2 = std::sqrt(squares);
  r.times.optimizer = seconds_since(t0);
  return r;
}

}  // namespace sk
