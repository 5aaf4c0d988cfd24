// Softmax cross-entropy over the vocabulary, in place on a block of logits
// (the LM head, kernels/lm_head.hpp, feeds it one chunk of rows at a time).
// The logits may be padded to Vp >= V columns for faster matmuls; the padded
// columns never enter the softmax and get zero probability and zero gradient.
// Rows are walked in lane groups (kernels/lanes.hpp): the
// exp vectorises on CPUs (fast_math.hpp) and the sums have a fixed order.
#pragma once
#include "fast_math.hpp"
#include "lanes.hpp"
#include "reduction.hpp"
#include "views.hpp"

namespace sk {

// logits[r, :] becomes scale * softmax(logits[r, :V]) (0 in the padded columns);
// losses[r] = logsumexp(logits[r, :V]) - logits[r, targets[r]].
// logits [N, Vp]; targets, losses [N]. In place: the backward and the label
// sampler read probabilities without another exp, and no second [N, Vp]
// buffer exists. With scale = dloss, the result is already the logits'
// gradient but at the labels (crossentropy_backward_scaled).
template <class T>
void crossentropy_forward(Tensor1<T> losses, Tensor2<T> logits, RowTokens targets, int V, T scale = 1,
                          const ExecSpace& space = ExecSpace()) {
  const int N = logits.extent(0), Vp = logits.extent(1);
  Kokkos::parallel_for("crossentropy_forward", TeamPolicy(space, N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    T* x = &logits(r, 0);
    const T target_logit = x[targets(r)];
    team.team_barrier();  // every thread has read it before x is overwritten

    T lane[kLanes];
    for (int j = 0; j < kLanes; ++j) lane[j] = x[0];
    for_lane_groups(team, V, [&](int v, int j) { lane[j] = x[v] > lane[j] ? x[v] : lane[j]; });
    T maxval = lane[0];
    for (int j = 1; j < kLanes; ++j) maxval = lane[j] > maxval ? lane[j] : maxval;
    team.team_reduce(Kokkos::Max<T>(maxval));

    const T sum = team_lane_sum<T>(team, V, [&](int v) { return x[v] = fast_exp(x[v] - maxval); });

    const T inv = scale / sum;
    for_lane_groups(team, Vp, [&](int v, int) { x[v] = v < V ? x[v] * inv : T(0); });
    if (team.team_rank() == 0) losses(r) = maxval + kmath::log(sum) - target_logit;
  });
}

// Tangent of the softmax (the R-operator), for a logits tangent z_dot: with
// p = softmax(z) over the first V columns, the Jacobian is diag(p) - p p^T, so
//   R{p} = p * (z_dot - sum_v p_v z_dot_v)
// and R{dlogits} = dloss R{p}: the labels' one-hot does not move.
// z_dot [N, Vp] becomes R{dlogits} in place (0 in the padded columns);
// scaled_probs [N, Vp] is dloss * p from crossentropy_forward (before the
// labels' entries change).
template <class T>
void crossentropy_forward_tangent(Tensor2<T> z_dot, ConstTensor2<T> scaled_probs, int V, T dloss,
                                  const ExecSpace& space = ExecSpace()) {
  const int Vp = z_dot.extent(1);
  Kokkos::parallel_for("crossentropy_forward_tangent", TeamPolicy(space, z_dot.extent(0), Kokkos::AUTO),
                       KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const T* p = &scaled_probs(r, 0);
    T* zd = &z_dot(r, 0);
    const T mean_zd = team_lane_sum<T>(team, V, [&](int v) { return p[v] * zd[v]; }) / dloss;
    team.team_barrier();  // every thread has read zd before it is overwritten
    for_lane_groups(team, Vp, [&](int v, int) { zd[v] = v < V ? p[v] * (zd[v] - mean_zd) : T(0); });
  });
}

// probs[r, v] becomes the logits' gradient (probs[r, v] - [v == labels[r]]) * dloss,
// with dloss the derivative of the loss by losses[r] (1/N for the mean over N rows).
// probs [N, Vp] from crossentropy_forward; labels [N].
template <class T>
void crossentropy_backward(Tensor2<T> probs, RowTokens labels, T dloss, const ExecSpace& space = ExecSpace()) {
  const int Vp = probs.extent(1);
  Kokkos::parallel_for("crossentropy_backward", TeamPolicy(space, probs.extent(0), Kokkos::AUTO),
                       KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank(), label = labels(r);
    T* p = &probs(r, 0);
    const T at_label = (p[label] - T(1)) * dloss;
    team.team_barrier();  // p[label] read before it is scaled
    for_lane_groups(team, Vp, [&](int v, int) { p[v] *= dloss; });
    team.team_barrier();
    if (team.team_rank() == 0) p[label] = at_label;
  });
}

// The same for probabilities that crossentropy_forward already scaled by
// dloss: only each row's label entry changes, by -dloss. This saves the pass
// over [N, Vp] that crossentropy_backward makes, where the labels are known
// before the softmax (the data's targets).
template <class T>
void crossentropy_backward_scaled(Tensor2<T> scaled_probs, RowTokens labels, T dloss, const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_for("crossentropy_backward_scaled", RangePolicy(space, 0, scaled_probs.extent(0)),
                       KOKKOS_LAMBDA(const int r) { scaled_probs(r, labels(r)) -= dloss; });
}

// The mean of losses [N] in a fixed order: blocks of kRowBlock rows, then the
// blocks in turn, so that it has the same bits at every thread count (a plain
// parallel_reduce adds in an order that depends on the threads).
// partial: scratch of row_blocks(N) elements.
template <class T>
T mean_loss(ConstTensor1<T> losses, T* partial, const ExecSpace& space = ExecSpace()) {
  const int n = int(losses.extent(0)), blocks = row_blocks(n);
  Kokkos::parallel_for("mean_loss_blocks", RangePolicy(space, 0, blocks), KOKKOS_LAMBDA(const int b) {
    const int end = (b + 1) * kRowBlock < n ? (b + 1) * kRowBlock : n;
    T s = 0;
    for (int i = b * kRowBlock; i < end; ++i) s += losses(i);
    partial[b] = s;
  });
  T sum = 0;
  Kokkos::parallel_reduce("mean_loss", RangePolicy(space, 0, 1), KOKKOS_LAMBDA(const int, T& acc) {
    for (int b = 0; b < blocks; ++b) acc += partial[b];
  }, sum);
  return sum / T(n);
}

}  // namespace sk
