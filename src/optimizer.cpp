#include "optimizer.hpp"

#include <cmath>

#include "../kernels/optimizer.hpp"

namespace sk {
namespace {

// Maximal runs of consecutive tensors that share a weight decay, so that an
// update is one kernel launch per run.
struct Segment {
  std::size_t offset, size;
  bool decay;
};

std::vector<Segment> decay_segments(const ParameterLayout& layout) {
  std::vector<Segment> out;
  for (const auto& t : layout.tensors()) {
    const bool decay = t.shape.size() == 2;
    if (!out.empty() && out.back().decay == decay && out.back().offset + out.back().size == t.offset)
      out.back().size += t.size();
    else
      out.push_back({t.offset, t.size(), decay});
  }
  return out;
}

template <class V>
Tensor1<float> part(const V& v, const Segment& s) {
  return Tensor1<float>(v.data() + s.offset, s.size);
}

class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerConfig& c, const ParameterLayout& layout)
      : c_(c), segments_(decay_segments(layout)), m_("exp_avg", layout.size()), v_("exp_avg_sq", layout.size()) {}

  double step(View1<float> params, View1<float> grads, double lr, double grad_scale, long step) override {
    for (const auto& s : segments_) {
      const AdamWStep<float> hp{float(lr), float(c_.beta1), float(c_.beta2), float(c_.eps),
                                s.decay ? float(c_.weight_decay) : 0.0f, int(step + 1), float(grad_scale)};
      adamw_update<float>(part(params, s), part(grads, s), part(m_, s), part(v_, s), hp);
    }
    return -1;
  }

  std::vector<std::pair<std::string, View1<float>>> state() override { return {{"exp_avg", m_}, {"exp_avg_sq", v_}}; }

 private:
  OptimizerConfig c_;
  std::vector<Segment> segments_;
  View1<float> m_, v_;
};

class SophiaG final : public Optimizer {
 public:
  SophiaG(const OptimizerConfig& c, const ParameterLayout& layout, double tokens)
      : c_(c), tokens_(tokens), segments_(decay_segments(layout)), m_("exp_avg", layout.size()),
        h_("hessian", layout.size()), size_(layout.stored_count()) {}

  double step(View1<float> params, View1<float> grads, double lr, double grad_scale, long) override {
    long clipped = 0;
    for (const auto& s : segments_) {
      const SophiaStep<float> hp{float(lr), float(c_.beta1), float(c_.rho), s.decay ? float(c_.weight_decay) : 0.0f,
                                 float(tokens_), float(grad_scale)};
      clipped += sophia_update<float>(part(params, s), part(grads, s), part(m_, s), part(h_, s), hp);
    }
    return double(clipped) / double(size_);
  }

  // After the update of every hessian_interval-th step, as the reference
  // implementation does; h stays zero before the first refresh, so the
  // first steps are sign-momentum steps of size lr.
  bool wants_hessian(long step) const override { return (step + 1) % c_.hessian_interval == 0; }

  std::pair<double, double> update_hessian(View1<float> ghat, double scale) override {
    sophia_hessian_update<float>(h_, ghat, float(c_.beta2), float(scale));
    return {sum_of_abs<float>(h_), std::sqrt(sum_of_squares<float>(h_))};
  }

  std::vector<std::pair<std::string, View1<float>>> state() override { return {{"exp_avg", m_}, {"hessian", h_}}; }

 private:
  OptimizerConfig c_;
  double tokens_;
  std::vector<Segment> segments_;
  View1<float> m_, h_;
  std::size_t size_;  // coordinates that can move (the padding rows of wte cannot)
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParameterLayout& layout,
                                          double tokens_per_step) {
  if (config.type == "adamw") return std::make_unique<AdamW>(config, layout);
  return std::make_unique<SophiaG>(config, layout, tokens_per_step);
}

}  // namespace sk
