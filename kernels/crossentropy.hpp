// Softmax cross-entropy over the vocabulary. The logits may be padded to Vp >= V
// columns for faster matmuls; the padded columns never enter the softmax and
// get zero gradient.
#pragma once
#include "views.hpp"

namespace sk {

// losses[r] = logsumexp(logits[r, :V]) - logits[r, targets[r]];  lse[r] keeps the
// logsumexp so the backward (and label sampling) can rebuild probabilities
// without storing them. logits [N, Vp], targets [N] flattened from [B, T].
// One team per row: max and sum over the vocabulary are team reductions.
template <class T>
void crossentropy_forward(Tensor1<T> losses, Tensor1<T> lse, ConstTensor2<T> logits, TokenView targets, int V) {
  const int N = logits.extent(0), Tn = targets.extent(1);
  Kokkos::parallel_for("crossentropy_forward", TeamPolicy(N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    T maxval;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, V), [&](const int v, T& m) {
      m = logits(r, v) > m ? logits(r, v) : m;
    }, Kokkos::Max<T>(maxval));
    T sum = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, V), [&](const int v, T& acc) {
      acc += kmath::exp(logits(r, v) - maxval);
    }, sum);
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      const T l = maxval + kmath::log(sum);
      lse(r) = l;
      losses(r) = l - logits(r, targets(r / Tn, r % Tn));
    });
  });
}

// dlogits[r, v] = (softmax(logits[r, :V])[v] - [v == target_r]) * dloss for v < V,
// and 0 for the padded columns. dloss is d(loss)/d(losses[r]) (1/N for the mean).
// dlogits may alias logits: each element is read once and then overwritten,
// which saves a buffer of [N, Vp], the largest activation.
template <class T>
void crossentropy_backward(Tensor2<T> dlogits, ConstTensor2<T> logits, ConstTensor1<T> lse, TokenView targets,
                           int V, T dloss) {
  const int N = logits.extent(0), Vp = logits.extent(1), Tn = targets.extent(1);
  Kokkos::parallel_for("crossentropy_backward", TeamPolicy(N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const int target = targets(r / Tn, r % Tn);
    const T l = lse(r);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, Vp), [&](const int v) {
      const T p = v < V ? kmath::exp(logits(r, v) - l) : T(0);
      dlogits(r, v) = (p - (v == target ? T(1) : T(0))) * dloss;
    });
  });
}

}  // namespace sk
