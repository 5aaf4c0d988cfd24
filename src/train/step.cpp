#include "step.hpp"

#include <cmath>

#include "optimizer_update.hpp"
#include "timer.hpp"

namespace sk {
namespace {

// Sophia-H's passes on a refresh step: GPT2::hvp along h.probe on the first
// micro_batches micro-batches, adding H u to h.hu (the gradient too).
struct HvpPasses {
  Optimizer::Hutchinson& h;
  std::size_t micro_batches;
  StepTimes& times;  // the passes' seconds, in forward
};

// The micro-batches' losses summed over ranks. In exact mode they are summed
// in fixed point (units of 2^-40), so that the sum's bits do not depend on
// the rank count either; a loss of 2^16 or more (far beyond divergence)
// counts as non-finite there.
class LossSum {
 public:
  explicit LossSum(bool exact) : exact_(exact) {}
  void add(double loss) {
    sum_ += loss;
    if (!std::isfinite(loss) || std::fabs(loss) >= 0x1p16) ++bad_;
    else fixed_ += std::llround(loss * 0x1p40);
  }
  double over_ranks() const {
    if (!exact_) return sum_over_ranks(sum_);
    return sum_over_ranks(bad_) > 0 ? NAN : double(sum_over_ranks(fixed_)) * 0x1p-40;
  }

 private:
  bool exact_;
  double sum_ = 0;
  long fixed_ = 0, bad_ = 0;
};

// Forward and backward over the micro-batches, the forward being
// forward(model, micro-batch) (which chooses the labels the gradient is
// against), or the HVP's passes where hvp asks; the reductions over ranks
// start during the last backward (in exact mode: each micro-batch's gradients
// go into the reducer's fixed-point sums). Returns the sum of the
// micro-batches' mean losses over ranks.
template <class Forward>
double accumulate_gradients(GPT2<float>& model, GradientReducer& reducer, const std::vector<SequenceBatch>& micro,
                            Forward forward, StepTimes& times, const HvpPasses* hvp = nullptr) {
  LossSum loss(reducer.exact());
  for (std::size_t m = 0; m < micro.size(); ++m) {
    const bool last = m + 1 == micro.size(), with_hvp = hvp && m < hvp->micro_batches;
    if (m == 0 || reducer.exact()) {
      model.zero_grad();
      if (hvp && (m == 0 || with_hvp)) Kokkos::deep_copy(hvp->h.hu, 0.0f);
    }
    const GPT2<float>::GradientsReady ready =
        last ? GPT2<float>::GradientsReady([&reducer](std::size_t from) { reducer.ready(from); }) : nullptr;
    auto t0 = Clock::now();
    if (with_hvp) {
      loss.add(model.hvp(micro[m].batch.inputs, micro[m].batch.targets, hvp->h.probe, hvp->h.hu, ready));
      hvp->times.forward += seconds_since(t0);
    } else {
      loss.add(forward(model, micro[m]));
      times.forward += seconds_since(t0);
      t0 = Clock::now();
      model.backward(ready);
      times.backward += seconds_since(t0);
    }
    if (reducer.exact()) reducer.add_micro_batch(with_hvp ? hvp->h.hu : View1<float>());
  }
  times.comm_wait += reducer.finish();
  return loss.over_ranks();
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

const auto against_targets = [](GPT2<float>& model, const SequenceBatch& b) {
  return model.forward(b.batch.inputs, b.batch.targets);
};

// The update from the gradients summed in grads over `micro_batches`
// micro-batches and the ranks; r.loss is set.
void update(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer, std::size_t micro_batches,
            double lr, double clip, long step, StepResult& r) {
  const auto t0 = Clock::now();
  clip_gradients(optimizer, model.grads, reducer, micro_batches, clip);
  optimizer.step(model.params, model.grads, lr, step);
  reducer.gather_parameters(model.params);
  model.weights_changed();
  const StepStats stats = optimizer.stats();
  r.grad_norm = stats.grad_norm;
  r.clipped = long(stats.clipped);
  if (reducer.partitioned() && r.clipped >= 0) r.clipped = sum_over_ranks(r.clipped);
  r.times.optimizer = seconds_since(t0);
}

// The end of a refresh: the optimizer's Hessian update from `sums` (ghat, or
// H u, summed over micro-batches and ranks), and its norms over every rank.
void refresh_estimate(Optimizer& optimizer, const View1<float>& sums, const GradientReducer& reducer,
                      std::size_t micro_batches, double clip, HessianResult& r) {
  const auto t0 = Clock::now();
  clip_gradients(optimizer, sums, reducer, micro_batches, clip);
  optimizer.update_hessian(sums);
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

// a <-> b element by element, [n] each: one pass instead of three copies.
void swap_contents(const View1<float>& a, const View1<float>& b) {
  Kokkos::parallel_for("swap_contents", RangePolicy(0, int(a.extent(0))), KOKKOS_LAMBDA(const int i) {
    const float x = a(i);
    a(i) = b(i);
    b(i) = x;
  });
}

}  // namespace

StepResult optimizer_step(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                          const std::vector<SequenceBatch>& micro, double lr, double clip, long step) {
  StepResult r{0, NAN, -1, {}};
  r.loss = accumulate_gradients(model, reducer, micro, against_targets, r.times) / (double(micro.size()) * reducer.ranks());
  if (!std::isfinite(r.loss)) return r;  // the caller stops; nothing is updated
  update(model, optimizer, reducer, micro.size(), lr, clip, step, r);
  return r;
}

RefreshedStep refreshing_step(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                              const std::vector<SequenceBatch>& micro, std::size_t hessian_micro, std::uint64_t key,
                              double lr, double clip, long step) {
  RefreshedStep out{{0, NAN, -1, {}}, {}};
  Optimizer::Hutchinson& h = *optimizer.hutchinson(key);
  const HvpPasses passes{h, hessian_micro, out.hessian.times};
  out.step.loss = accumulate_gradients(model, reducer, micro, against_targets, out.step.times, &passes) /
                  (double(micro.size()) * reducer.ranks());
  if (!std::isfinite(out.step.loss)) return out;
  // The reducer sums grads over the ranks: H u takes its turn there while the
  // summed gradient waits in hu (one rank has nothing to sum). The mean of H u
  // is not clipped.
  if (reducer.exact()) out.hessian.times.comm_wait += reducer.finish_hu(h.hu);
  const bool reduce = reducer.ranks() > 1 && !reducer.exact();
  if (reduce) {
    swap_contents(model.grads, h.hu);
    reducer.ready(0);
    out.hessian.times.comm_wait += reducer.finish();
  }
  refresh_estimate(optimizer, reduce ? model.grads : h.hu, reducer, hessian_micro, 0, out.hessian);
  if (reduce) Kokkos::deep_copy(model.grads, h.hu);
  update(model, optimizer, reducer, micro.size(), lr, clip, step, out.step);
  return out;
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
  refresh_estimate(optimizer, model.grads, reducer, micro.size(), clip, r);
  return r;
}

}  // namespace sk
