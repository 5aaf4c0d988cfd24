#include "optimizer.hpp"

#include <algorithm>

#include "optimizer_update.hpp"
#include "probe.hpp"

namespace sk {
namespace {

// Maximal runs of consecutive tensors that share a weight decay, cut to the
// partition, so that an update is one kernel launch per run.
struct Segment {
  std::size_t offset, size;  // offset in the flat buffer
  bool decay;
};

std::vector<Segment> decay_segments(const ParameterLayout& layout, Partition partition) {
  std::vector<Segment> out;
  for (const auto& t : layout.tensors()) {
    const std::size_t begin = std::max(t.offset, partition.begin), end = std::min(t.offset + t.size(), partition.end);
    if (begin >= end) continue;
    const bool decay = t.shape.size() == 2;
    if (!out.empty() && out.back().decay == decay && out.back().offset + out.back().size == begin)
      out.back().size += end - begin;
    else
      out.push_back({begin, end - begin, decay});
  }
  return out;
}

// A segment of a whole flat buffer, or of partition-sized optimizer state.
Tensor1<float> whole(const View1<float>& v, const Segment& s) { return Tensor1<float>(v.data() + s.offset, s.size); }
Tensor1<float> in_partition(const View1<float>& v, const Segment& s, const Partition& partition) {
  return Tensor1<float>(v.data() + (s.offset - partition.begin), s.size);
}

}  // namespace

Optimizer::Optimizer(Partition partition)
    : partition_(partition),
      scalars_("step_scalars", kStats),
      host_scalars_(Kokkos::create_mirror_view(scalars_)),
      partials_("step_partials", sum_blocks(partition.size())) {
  Kokkos::deep_copy(scalar(kClipped), -1.0);
}

void Optimizer::sum_of_squares(ConstTensor1<float> x, Stat into) {
  blocked_sum<float>("sum_of_squares", x, Square(), partials_, scalar(into));
}

void Optimizer::sum_gradient_squares(const View1<float>& grads) {
  sum_of_squares(ConstTensor1<float>(grads.data() + partition_.begin, partition_.size()), kSquares);
}

double Optimizer::squares() const {
  double host = 0;
  Kokkos::deep_copy(host, scalar(kSquares));
  return host;
}

void Optimizer::set_squares(double squares) { Kokkos::deep_copy(scalar(kSquares), squares); }

void Optimizer::clip(double sums, double clip) { clip_scale(scalar(kSquares), sums, clip, scalar(kNorm), scalar(kScale)); }

StepStats Optimizer::stats() {
  Kokkos::deep_copy(host_scalars_, scalars_);
  const auto& host = host_scalars_;
  return {host(kNorm), host(kClipped), host(kHL1), host(kHL2)};
}

namespace {

class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerConfig& c, const ParameterLayout& layout, Partition partition)
      : Optimizer(partition), c_(c), segments_(decay_segments(layout, partition)), m_("exp_avg", partition.size()),
        v_("exp_avg_sq", partition.size()) {}

  void step(View1<float> params, View1<float> grads, double lr, long step) override {
    for (const auto& s : segments_) {
      const AdamWStep<float> hp{float(lr), float(c_.beta1), float(c_.beta2), float(c_.eps),
                                s.decay ? float(c_.weight_decay) : 0.0f, int(step + 1)};
      adamw_update<float>(whole(params, s), whole(grads, s), in_partition(m_, s, partition_),
                          in_partition(v_, s, partition_), hp, scalar(kScale));
    }
  }

  std::vector<std::pair<std::string, View1<float>>> state() override { return {{"exp_avg", m_}, {"exp_avg_sq", v_}}; }

 private:
  OptimizerConfig c_;
  std::vector<Segment> segments_;
  View1<float> m_, v_;
};

// Sophia-G (tokens = N of the step) and, as the base of SophiaH, Sophia-H (tokens = 1).
class SophiaG : public Optimizer {
 public:
  SophiaG(const OptimizerConfig& c, const ParameterLayout& layout, double tokens, Partition partition)
      : Optimizer(partition), c_(c), tokens_(tokens), segments_(decay_segments(layout, partition)),
        m_("exp_avg", partition.size()), h_("hessian", partition.size()), clipped_("clipped", segments_.size()) {}

  void step(View1<float> params, View1<float> grads, double lr, long) override {
    for (std::size_t i = 0; i < segments_.size(); ++i) {
      const Segment& s = segments_[i];
      const SophiaStep<float> hp{float(lr), float(c_.beta1), float(c_.rho), s.decay ? float(c_.weight_decay) : 0.0f,
                                 float(tokens_)};
      sophia_update<float>(whole(params, s), whole(grads, s), in_partition(m_, s, partition_),
                           in_partition(h_, s, partition_), hp, scalar(kScale), Scalar<long>(clipped_.data() + i));
    }
    add_counts(clipped_, scalar(kClipped));
  }

  // After the update of every hessian_interval-th step, as the reference
  // implementation does; h stays zero before the first refresh, so the
  // first steps are sign-momentum steps of size lr.
  bool wants_hessian(long step) const override { return (step + 1) % c_.hessian_interval == 0; }

  void update_hessian(View1<float> ghat) override {
    const Tensor1<float> g(ghat.data() + partition_.begin, partition_.size());
    sophia_hessian_update<float>(h_, g, float(c_.beta2), scalar(kScale));
    hessian_norms();
  }

  std::vector<std::pair<std::string, View1<float>>> state() override { return {{"exp_avg", m_}, {"hessian", h_}}; }

 protected:
  // sum |h| and sum h^2 for stats().
  void hessian_norms() {
    blocked_sum<float>("sum_of_abs", h_, Magnitude(), partials_, scalar(kHL1));
    sum_of_squares(h_, kHL2);
  }

  OptimizerConfig c_;
  double tokens_;
  std::vector<Segment> segments_;
  View1<float> m_, h_;
  Kokkos::View<long*, MemSpace> clipped_;  // per segment
};

class SophiaH final : public SophiaG {
 public:
  SophiaH(const OptimizerConfig& c, const ParameterLayout& layout, Partition partition)
      : SophiaG(c, layout, 1, partition), layout_(layout),
        buffers_{View1<float>("probe", layout.size()), View1<float>("hessian_probe_product", layout.size())} {}

  bool wants_hessian(long step) const override { return step > 0 && SophiaG::wants_hessian(step - 1); }

  Hutchinson* hutchinson(std::uint64_t key) override {
    draw_probe(layout_, c_.probe, key, buffers_.probe);
    return &buffers_;
  }

  void update_hessian(View1<float> hu) override {
    const ConstTensor1<float> u(buffers_.probe.data() + partition_.begin, partition_.size());
    const ConstTensor1<float> hu_part(hu.data() + partition_.begin, partition_.size());
    sophia_hutchinson_update<float>(h_, u, hu_part, float(c_.beta2), scalar(kScale));
    hessian_norms();
  }

 private:
  ParameterLayout layout_;
  Hutchinson buffers_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParameterLayout& layout,
                                          double tokens_per_step, Partition partition) {
  if (config.type == OptimizerType::adamw) return std::make_unique<AdamW>(config, layout, partition);
  if (config.type == OptimizerType::sophiah) return std::make_unique<SophiaH>(config, layout, partition);
  return std::make_unique<SophiaG>(config, layout, tokens_per_step, partition);
}

}  // namespace sk
