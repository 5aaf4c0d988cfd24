// Sophia-G's Gauss-Newton-Bartlett estimator: with labels sampled from the
// model's softmax, N * E[ghat^2] is the diagonal of the Gauss-Newton matrix of
// the mean loss. Compared with the exact diagonal that make_gauss_newton.py
// computes with PyTorch for the reference model.
#include <catch2/catch.hpp>

#include <cmath>

#include "tokens.hpp"
#include "weights.hpp"
#include "random.hpp"
#include "reference_data.hpp"
#include "batch.hpp"
#include "gpt2.hpp"

using namespace sk;
using sk::test::reference;

TEST_CASE("N times the mean of ghat^2 over sampled labels is the Gauss-Newton diagonal", "[gnb][reference]") {
  const std::string gn = reference("gauss_newton.h5");
  const int B = int(test::read_root_attribute(gn, "B")), T = int(test::read_root_attribute(gn, "T"));
  GPT2<double> model(read_config(reference("weights.h5")));
  auto host = Kokkos::create_mirror_view(model.params);
  read_weights(reference("weights.h5"), model.layout(), host.data());
  Kokkos::deep_copy(model.params, host);
  const Batch batch = make_batch(read_tokens(reference("tokens.bin"), std::size_t(B) * T + 1), T, B, T);
  Kokkos::View<std::uint64_t*, MemSpace> sequences("sequences", B);
  Kokkos::parallel_for("iota", RangePolicy(0, B), KOKKOS_LAMBDA(const int b) { sequences(b) = b; });
  Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels("labels", B, T);

  // S = 4000 and the tolerances below come from make_gauss_newton.py's
  // closed-form variances: a correct estimator lands 8 standard deviations
  // inside them, while data labels, uniform labels, a missing factor N or 2,
  // or squaring the mean instead of averaging squares land far outside.
  const int samples = 4000;
  const double N = double(B) * T;
  View1<double> estimate("estimate", model.layout().size());
  const auto grads = model.grads;
  for (int s = 0; s < samples; ++s) {
    model.zero_grad();
    model.forward(batch.inputs, batch.targets, {labels, sequences, hash_key(2024, std::uint64_t(s))});
    model.backward();
    Kokkos::parallel_for("accumulate_ghat_squared", RangePolicy(0, estimate.extent(0)), KOKKOS_LAMBDA(const int i) {
      estimate(i) += N * grads(i) * grads(i) / samples;
    });
  }
  auto est = Kokkos::create_mirror_view(estimate);
  Kokkos::deep_copy(est, estimate);

  double err2 = 0, norm2 = 0, worst_sum = 0;
  for (const auto& t : model.layout().tensors()) {
    const auto exact = test::read_dataset(gn, "gn_diag/" + t.name);
    double sum_est = 0, sum_exact = 0;
    for (std::size_t i = 0; i < exact.size(); ++i) {
      sum_est += est(t.offset + i);
      sum_exact += exact[i];
      err2 += (est(t.offset + i) - exact[i]) * (est(t.offset + i) - exact[i]);
      norm2 += exact[i] * exact[i];
    }
    INFO(t.name << ": estimated " << sum_est << ", exact " << sum_exact);
    CHECK(std::fabs(sum_est - sum_exact) <= 0.055 * sum_exact);
    worst_sum = std::max(worst_sum, std::fabs(sum_est - sum_exact) / sum_exact);
  }
  INFO("worst per-tensor error " << worst_sum);
  CHECK(std::sqrt(err2 / norm2) <= 0.0425);
}
