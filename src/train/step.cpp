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

namespace {

// The end of a refresh: the optimizer's Hessian update from grads (ghat, or
// the sum of H u), and its norms over every rank.
void refresh_estimate(Optimizer& optimizer, GPT2<float>& model, const GradientReducer& reducer,
                      std::size_t micro_batches, double clip, HessianResult& r) {
  const auto t0 = Clock::now();
  clip_gradients(optimizer, model.grads, reducer, micro_batches, clip);
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
}

// Sophia-H: H u on each micro-batch (GPT2::hvp), summed over them in grads,
// then over the ranks like a gradient; the mean of H u is not clipped.
HessianResult hutchinson_refresh(GPT2<float>& model, Optimizer& optimizer, Optimizer::Hutchinson& h,
                                 GradientReducer& reducer, const std::vector<SequenceBatch>& micro) {
  HessianResult r{};
  if (micro.size() > 1 && h.hu_sum.extent(0) == 0) h.hu_sum = View1<float>("hessian_probe_sum", h.hu.extent(0));
  for (std::size_t m = 0; m < micro.size(); ++m) {
    const auto t0 = Clock::now();
    model.hvp(micro[m].batch.inputs, micro[m].batch.targets, h.probe, h.hu);
    if (micro.size() > 1) {
      const auto hu = h.hu, sum = h.hu_sum;
      const bool first = m == 0;
      Kokkos::parallel_for("hessian_probe_sum", RangePolicy(0, int(hu.extent(0))),
                           KOKKOS_LAMBDA(const int i) { sum(i) = first ? hu(i) : sum(i) + hu(i); });
    }
    r.times.forward += seconds_since(t0);  // the HVP's forward and backward passes together
  }
  // hvp wrote the gradient to grads as a by-product; the sum of H u replaces it.
  Kokkos::deep_copy(model.grads, micro.size() > 1 ? h.hu_sum : h.hu);
  reducer.ready(0);
  r.times.comm_wait += reducer.finish();
  refresh_estimate(optimizer, model, reducer, micro.size(), 0, r);
  return r;
}

}  // namespace

HessianResult hessian_refresh(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                              const std::vector<SequenceBatch>& micro, double clip, std::uint64_t key) {
  if (Optimizer::Hutchinson* h = optimizer.hutchinson(key)) return hutchinson_refresh(model, optimizer, *h, reducer, micro);
  HessianResult r{};
  // The step buffer's room for labels (StepBatches), not an allocation per refresh.
  auto labels = micro[0].labels;
  if (labels.extent(0) == 0)
    labels = decltype(labels)("sampled_labels", micro[0].batch.inputs.extent(0), micro[0].batch.inputs.extent(1));
  const auto sampled = [&](GPT2<float>& model, const SequenceBatch& b) {
    return model.forward(b.batch.inputs, b.batch.targets, {labels, b.sequences, key});
  };
  accumulate_gradients(model, reducer, micro, sampled, r.times);
  refresh_estimate(optimizer, model, reducer, micro.size(), clip, r);
  return r;
}

}  // namespace sk
