#include "step.hpp"

#include <cmath>

#include "../kernels/optimizer.hpp"
#include "../kernels/sampling.hpp"

namespace sk {
namespace {

// The scale that turns gradients summed over micro-batches into their mean,
// clipped to norm `clip`; folded into the update rather than a pass of its own.
struct GradScale {
  double norm, scale;
};
GradScale clip_scale(const View1<float>& grads, std::size_t micro_batches, double clip) {
  const double norm = std::sqrt(sum_of_squares<float>(grads)) / micro_batches;
  const double factor = clip > 0 && norm > clip ? clip / norm : 1.0;
  return {norm, factor / micro_batches};
}

}  // namespace

StepResult optimizer_step(GPT2<float>& model, Optimizer& optimizer, const std::vector<SequenceBatch>& micro,
                          double lr, double clip, long step) {
  model.zero_grad();
  double loss = 0;
  for (const auto& b : micro) {
    loss += model.forward(b.batch.inputs, b.batch.targets);
    model.backward();
  }
  loss /= micro.size();
  if (!std::isfinite(loss)) return {loss, NAN, NAN};  // the caller stops; nothing is updated
  const GradScale g = clip_scale(model.grads, micro.size(), clip);
  return {loss, g.norm, optimizer.step(model.params, model.grads, lr, g.scale, step)};
}

HessianResult hessian_refresh(GPT2<float>& model, Optimizer& optimizer, const std::vector<SequenceBatch>& micro,
                              double clip, std::uint64_t key) {
  model.zero_grad();
  for (const auto& b : micro) {
    model.forward(b.batch.inputs, b.batch.targets);
    Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels("sampled_labels", b.batch.inputs.extent(0),
                                                              b.batch.inputs.extent(1));
    sample_labels<float>(labels, model.probabilities(), b.sequences, model.config().vocab_size, key);
    model.backward(labels);
  }
  const GradScale g = clip_scale(model.grads, micro.size(), clip);
  const auto [l1, l2] = optimizer.update_hessian(model.grads, g.scale);
  return {g.norm, l1, l2};
}

}  // namespace sk
