// Sampling labels from the model's own softmax (Sophia-G's Gauss-Newton-Bartlett
// estimator backpropagates the loss against such labels).
#pragma once
#include "random.hpp"
#include "views.hpp"

namespace sk {

// labels[b, t] ~ probs[b*T+t, :V], by inverse CDF from a uniform keyed on
// (key, sequences[b], t): `key` identifies the draw (seed and step) and
// sequences[b] is row b's global sequence number, so the labels do not depend
// on how sequences are split into micro-batches or ranks.
// probs [B*T, Vp] from crossentropy_forward; labels [B, T].
template <class T>
void sample_labels(Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels, ConstTensor2<T> probs,
                   Kokkos::View<const std::uint64_t*, MemSpace> sequences, int V, std::uint64_t key) {
  const int Tn = labels.extent(1);
  Kokkos::parallel_for("sample_labels", RangePolicy(0, labels.extent(0) * Tn), KOKKOS_LAMBDA(const int r) {
    const int b = r / Tn, t = r % Tn;
    const double u = uniform01(hash_key(key, sequences(b), std::uint64_t(t)));
    double cdf = 0;
    int label = V - 1;  // if rounding leaves the sum just below u
    for (int v = 0; v < V; ++v) {
      cdf += probs(r, v);
      if (u < cdf) {
        label = v;
        break;
      }
    }
    labels(b, t) = label;
  });
}

}  // namespace sk
