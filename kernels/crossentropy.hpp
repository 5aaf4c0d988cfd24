// Softmax cross-entropy over the vocabulary. The logits may be padded to Vp >= V
// columns for faster matmuls; the padded columns never enter the softmax and
// get zero probability and zero gradient.
#pragma once
#include "views.hpp"

namespace sk {

// probs[r, :] = softmax(logits[r, :V]) (0 in the padded columns);
// losses[r] = logsumexp(logits[r, :V]) - logits[r, targets[r]].
// logits, probs [N, Vp]; targets [B, T] with N = B*T; losses [N].
// probs may alias logits: the model turns its logits into probabilities in
// place, which saves a buffer of [N, Vp] (the largest activation) and leaves
// the backward pass and label sampling without a single exp.
// One team per row: max and sum over the vocabulary are team reductions.
template <class T>
void crossentropy_forward(Tensor1<T> losses, Tensor2<T> probs, ConstTensor2<T> logits, TokenView targets, int V) {
  const int N = logits.extent(0), Vp = logits.extent(1), Tn = targets.extent(1);
  Kokkos::parallel_for("crossentropy_forward", TeamPolicy(N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const T target_logit = logits(r, targets(r / Tn, r % Tn));  // read before probs may overwrite it
    T maxval;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, V), [&](const int v, T& m) {
      m = logits(r, v) > m ? logits(r, v) : m;
    }, Kokkos::Max<T>(maxval));
    T sum = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, V), [&](const int v, T& acc) {
      const T e = kmath::exp(logits(r, v) - maxval);
      probs(r, v) = e;  // each v is visited once, so writing here is safe
      acc += e;
    }, sum);
    const T inv = T(1) / sum;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, Vp), [&](const int v) {
      probs(r, v) = v < V ? probs(r, v) * inv : T(0);
    });
    Kokkos::single(Kokkos::PerTeam(team), [&]() { losses(r) = maxval + kmath::log(sum) - target_logit; });
  });
}

// dlogits[r, v] = (probs[r, v] - [v == target_r]) * dloss, with dloss the
// derivative of the loss by losses[r] (1/N for the mean). dlogits may alias
// probs: each element is read once and then overwritten.
// dlogits, probs [N, Vp]; targets [B, T] with N = B*T.
// Elementwise over (r, v), v innermost (Range2D iterates right): the CPU's
// inner loop and GPU half-warps run over consecutive columns.
template <class T>
void crossentropy_backward(Tensor2<T> dlogits, ConstTensor2<T> probs, TokenView targets, T dloss) {
  const int Vp = probs.extent(1), Tn = targets.extent(1);
  Kokkos::parallel_for("crossentropy_backward", Range2D({0, 0}, {int(probs.extent(0)), Vp}),
                       KOKKOS_LAMBDA(const int r, const int v) {
                         const int target = targets(r / Tn, r % Tn);
                         dlogits(r, v) = (probs(r, v) - (v == target ? T(1) : T(0))) * dloss;
                       });
}

}  // namespace sk
