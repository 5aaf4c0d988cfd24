// Optimizers over the flat parameter buffer: AdamW, Sophia-G and Sophia-H. Each updates,
// and keeps state (m, and v or h) for, one contiguous range of the buffer: all
// of it, or one rank's partition when the optimizer state is partitioned (ZeRO-1).
// Weight decay applies to the 2-D tensors (matmul weights, token and position
// embeddings) and not to biases or LayerNorm parameters.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "views.hpp"
#include "deck.hpp"
#include "optimizer_update.hpp"
#include "parameters.hpp"

namespace sk {

// What a step leaves on the device for the host, read once at its end.
struct StepStats {
  double grad_norm;  // of the (ghat) gradient, over the global batch
  double clipped;    // coordinates of the partition whose step was clipped; -1 if the optimizer does not clip
  double h_l1, h_l2sq;  // sum |h| and sum h^2 over the partition (Sophia-G's Hessian refresh)
};

class Optimizer {
 public:
  explicit Optimizer(Partition partition);
  virtual ~Optimizer() = default;

  // Gradient clipping on the device, in three calls so that the sum of
  // squares can cross ranks in between: sum_gradient_squares enqueues
  // sum grads[partition]^2; squares()/set_squares stage it through the host;
  // clip enqueues the norm and the scale that turns the gradients' sum over
  // `sums` micro-batches and ranks into their mean, clipped to `clip` (0: off).
  void sum_gradient_squares(const View1<float>& grads);
  double squares() const;
  void set_squares(double squares);
  void clip(double sums, double clip);

  // One update of params[partition] from grads[partition] times the scale of
  // the last clip(); params and grads are the whole flat buffers. step counts
  // from 0. Enqueues only.
  virtual void step(View1<float> params, View1<float> grads, double lr, long step) = 0;

  // Sophia-G and Sophia-H refresh their Hessian estimate every
  // hessian_interval steps: Sophia-G after the update of steps k-1, 2k-1, ...
  // (hessian_refresh), Sophia-H at the start of steps k, 2k, ...
  // (refreshing_step): at the same parameters, before the same update, but
  // with the HVP's passes giving the step's gradient too.
  virtual bool wants_hessian(long /*step*/) const { return false; }
  // h <- beta2 h + (1 - beta2) (ghat * scale)^2 over the partition, with the
  // scale of the last clip(); then sum |h| and sum h^2 for stats().
  virtual void update_hessian(View1<float> /*ghat*/) {}

  // Sophia-H's refresh is Hutchinson's: the probe u over the whole flat
  // buffer, drawn from `key` (the same on every rank), and room for H u.
  // Its update_hessian(hu) then takes the sum of H u over micro-batches and
  // ranks: h <- beta2 h + (1 - beta2) u * (hu * scale) over the partition.
  struct Hutchinson {
    View1<float> probe, hu;
  };
  virtual Hutchinson* hutchinson(std::uint64_t /*key*/) { return nullptr; }

  // The scalars of the last step, clip and Hessian refresh: one copy to the host.
  StepStats stats();

  // The optimizer state of the partition by name ("exp_avg", "exp_avg_sq" or "hessian").
  virtual std::vector<std::pair<std::string, View1<float>>> state() = 0;

 protected:
  enum Stat { kNorm, kClipped, kHL1, kHL2, kSquares, kScale, kStats };
  Scalar<double> scalar(Stat s) const { return Scalar<double>(scalars_.data() + s); }
  void sum_of_squares(ConstTensor1<float> x, Stat into);

  Partition partition_;
  View1<double> scalars_;   // [kStats]
  View1<double>::HostMirror host_scalars_;  // their copy for stats()
  View1<double> partials_;  // blocked sums over the partition (kernels/reduction.hpp)
};

// tokens_per_step is N of Sophia-G's update: tokens in one optimizer step over
// all ranks and micro-batches.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParameterLayout& layout,
                                          double tokens_per_step, Partition partition);

}  // namespace sk
