// Sophia-H through the training path (optimizer_step, refreshing_step with
// exact HVPs, the optimizer's kernels in float) against a float64 oracle of
// the same steps written out on the host: the gradient and H u of a GPT2<double>,
// then m, the clipped update and h <- beta2 h + (1 - beta2) u * (H u).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "batch.hpp"
#include "comm.hpp"
#include "gpt2.hpp"
#include "optimizer.hpp"
#include "probe.hpp"
#include "reference_data.hpp"
#include "step.hpp"
#include "tokens.hpp"
#include "weights.hpp"

using namespace sk;
using sk::test::reference;

namespace {

template <class T>
std::vector<T> host_copy(const View1<T>& v) {
  std::vector<T> out(v.extent(0));
  Kokkos::deep_copy(Kokkos::View<T*, Kokkos::HostSpace, Unmanaged>(out.data(), out.size()), v);
  return out;
}

template <class T, class U>
void upload(const View1<T>& v, const std::vector<U>& values) {
  std::vector<T> cast(values.begin(), values.end());
  Kokkos::deep_copy(v, Kokkos::View<const T*, Kokkos::HostSpace, Unmanaged>(cast.data(), cast.size()));
}

// The oracle's state and its steps, in double.
struct Oracle {
  const OptimizerConfig& oc;
  GPT2<double>& model;
  const Batch& batch;
  std::vector<double> m, h;
  std::vector<bool> decay;

  void step(double lr) {
    model.zero_grad();
    model.forward(batch.inputs, batch.targets);
    model.backward();
    const auto g = host_copy(model.grads);
    double squares = 0;
    for (double x : g) squares += x * x;
    const double norm = std::sqrt(squares), scale = norm > oc.grad_clip ? oc.grad_clip / norm : 1.0;
    auto p = host_copy(model.params);
    for (std::size_t i = 0; i < p.size(); ++i) {
      m[i] = oc.beta1 * m[i] + (1 - oc.beta1) * g[i] * scale;
      const double ratio = std::fabs(m[i]) / (std::max(oc.rho * h[i], 0.0) + 1e-15);
      const double sign = m[i] > 0 ? 1 : (m[i] < 0 ? -1 : 0);
      p[i] = p[i] * (1 - lr * (decay[i] ? oc.weight_decay : 0)) - lr * sign * std::min(ratio, 1.0);
    }
    upload(model.params, p);
  }
  void refresh(std::uint64_t key) {
    View1<double> u_dev("u", h.size()), hu_dev("hu", h.size());
    draw_probe(model.layout(), oc.probe, key, u_dev);
    const auto u = host_copy(u_dev);
    model.hvp(batch.inputs, batch.targets, u_dev, hu_dev);
    const auto hu = host_copy(hu_dev);
    for (std::size_t i = 0; i < h.size(); ++i) h[i] = oc.beta2 * h[i] + (1 - oc.beta2) * u[i] * hu[i];
  }
};

// Relative L2 distance of got from want.
double relative_l2(const std::vector<float>& got, const std::vector<double>& want) {
  double d = 0, n = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    d += (got[i] - want[i]) * (got[i] - want[i]);
    n += want[i] * want[i];
  }
  return std::sqrt(d / n);
}

}  // namespace

TEST_CASE("Sophia-H steps match a float64 oracle", "[optimizer][sophiah]") {
  const std::string weights = reference("weights.h5");
  const GPT2Config config = read_config(weights);
  GPT2<float> model(config);
  GPT2<double> exact(config);
  std::vector<double> p0(model.layout().size());
  read_weights(weights, model.layout(), p0.data());
  upload(model.params, p0);
  upload(exact.params, p0);
  const Batch batch = make_batch(read_tokens(reference("tokens.bin"), 3 * 17 + 1), 17, 3, 17);
  const std::vector<SequenceBatch> micro{{batch, {}, {}}};

  for (const Probe probe : {Probe::gaussian, Probe::rademacher}) {
    OptimizerConfig oc = optimizer_defaults(OptimizerType::sophiah);
    oc.probe = probe;
    oc.hessian_interval = 2;
    oc.rho = 1.0;  // curvature large enough against |m| that some steps are not clipped
    upload(model.params, p0);
    upload(exact.params, p0);
    GradientReducer reducer(model.grads, Reduction::blocking, 1 << 20);
    auto optimizer = make_optimizer(oc, model.layout(), 51, reducer.partition());
    Oracle oracle{oc, exact, batch, std::vector<double>(p0.size()), std::vector<double>(p0.size()), {}};
    for (const auto& t : model.layout().tensors()) oracle.decay.insert(oracle.decay.end(), t.size(), t.shape.size() == 2);
    const double lr = 1e-3;
    // The oracle refreshes h at the start of steps 2, 4 and 6, before their updates.
    for (long step = 0; step < 7; ++step) {
      if (step > 0 && step % oc.hessian_interval == 0) {
        CHECK(optimizer->wants_hessian(step));
        refreshing_step(model, *optimizer, reducer, micro, 1, 1000 + step, lr, oc.grad_clip, step);
        oracle.refresh(1000 + step);
      } else {
        CHECK_FALSE(optimizer->wants_hessian(step));
        optimizer_step(model, *optimizer, reducer, micro, lr, oc.grad_clip, step);
      }
      oracle.step(lr);
    }
    std::vector<float> h;
    for (auto& [name, view] : optimizer->state())
      if (name == "hessian") h = host_copy(view);
    const auto p = host_copy(model.params);
    const auto pe = host_copy(exact.params);
    // Float rounding alone: h within 1e-3 relative (it is a product of two
    // float passes), every parameter within 1e-6. Except the keys' bias
    // (columns C..2C of c_attn.bias): attention does not change when a
    // constant is added to every key, so its exact gradient is 0, its momentum
    // rounding noise, and its coordinates move by lr either way.
    std::size_t far = 0;
    for (const auto& t : model.layout().tensors()) {
      const bool key_bias = t.name.find("attn.c_attn.bias") != std::string::npos;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (key_bias && i >= std::size_t(config.n_embd) && i < 2 * std::size_t(config.n_embd)) continue;
        far += !(std::fabs(p[t.offset + i] - pe[t.offset + i]) <= 1e-6);
      }
    }
    INFO(name_of(probe) << ": h relative L2 " << relative_l2(h, oracle.h) << "; " << far
                        << " parameters further than 1e-6 from the oracle");
    CHECK(relative_l2(h, oracle.h) <= 1e-3);
    CHECK(far == 0);
    std::size_t negative = 0;
    for (double x : oracle.h) negative += x < 0;
    CHECK(negative > 0);  // Hutchinson's estimate: some coordinates negatively curved, the guard exercised
  }
}
