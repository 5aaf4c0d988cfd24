#include "optimizer.hpp"

#include <algorithm>

#include "optimizer_update.hpp"

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

class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerConfig& c, const ParameterLayout& layout, Partition partition)
      : c_(c), partition_(partition), segments_(decay_segments(layout, partition)), m_("exp_avg", partition.size()),
        v_("exp_avg_sq", partition.size()) {}

  long step(View1<float> params, View1<float> grads, double lr, double grad_scale, long step) override {
    for (const auto& s : segments_) {
      const AdamWStep<float> hp{float(lr), float(c_.beta1), float(c_.beta2), float(c_.eps),
                                s.decay ? float(c_.weight_decay) : 0.0f, int(step + 1), float(grad_scale)};
      adamw_update<float>(whole(params, s), whole(grads, s), in_partition(m_, s, partition_), in_partition(v_, s, partition_), hp);
    }
    return -1;
  }

  std::vector<std::pair<std::string, View1<float>>> state() override { return {{"exp_avg", m_}, {"exp_avg_sq", v_}}; }

 private:
  OptimizerConfig c_;
  Partition partition_;
  std::vector<Segment> segments_;
  View1<float> m_, v_;
};

class SophiaG final : public Optimizer {
 public:
  SophiaG(const OptimizerConfig& c, const ParameterLayout& layout, double tokens, Partition partition)
      : c_(c), tokens_(tokens), partition_(partition), segments_(decay_segments(layout, partition)), m_("exp_avg", partition.size()),
        h_("hessian", partition.size()) {}

  long step(View1<float> params, View1<float> grads, double lr, double grad_scale, long) override {
    long clipped = 0;
    for (const auto& s : segments_) {
      const SophiaStep<float> hp{float(lr), float(c_.beta1), float(c_.rho), s.decay ? float(c_.weight_decay) : 0.0f,
                                 float(tokens_), float(grad_scale)};
      clipped += sophia_update<float>(whole(params, s), whole(grads, s), in_partition(m_, s, partition_), in_partition(h_, s, partition_), hp);
    }
    return clipped;
  }

  // After the update of every hessian_interval-th step, as the reference
  // implementation does; h stays zero before the first refresh, so the
  // first steps are sign-momentum steps of size lr.
  bool wants_hessian(long step) const override { return (step + 1) % c_.hessian_interval == 0; }

  std::pair<double, double> update_hessian(View1<float> ghat, double scale) override {
    const Tensor1<float> g(ghat.data() + partition_.begin, partition_.size());
    sophia_hessian_update<float>(h_, g, float(c_.beta2), float(scale));
    return {sum_of_abs<float>(h_), sum_of_squares<float>(h_)};
  }

  std::vector<std::pair<std::string, View1<float>>> state() override { return {{"exp_avg", m_}, {"hessian", h_}}; }

 private:
  OptimizerConfig c_;
  double tokens_;
  Partition partition_;
  std::vector<Segment> segments_;
  View1<float> m_, h_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParameterLayout& layout,
                                          double tokens_per_step, Partition partition) {
  if (config.type == "adamw") return std::make_unique<AdamW>(config, layout, partition);
  return std::make_unique<SophiaG>(config, layout, tokens_per_step, partition);
}

}  // namespace sk
