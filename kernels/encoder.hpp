// Token + position embedding.
#pragma once
#include <cstddef>

#include "views.hpp"

namespace sk {

// out[b*T+t, c] = wte[tokens[b,t], c] + wpe[t, c]
// out [B*T, C], tokens [B, T], wte [Vp, C], wpe [block_size, C]
template <class T>
void encoder_forward(Tensor2<T> out, TokenView tokens, ConstTensor2<T> wte, ConstTensor2<T> wpe,
                     const ExecSpace& space = ExecSpace()) {
  const int Tn = tokens.extent(1), C = out.extent(1);
  Kokkos::parallel_for("encoder_forward", Range2D(space, {0, 0}, {int(out.extent(0)), C}),
                       KOKKOS_LAMBDA(const int bt, const int c) {
                         const int t = bt % Tn;
                         out(bt, c) = wte(tokens(bt / Tn, t), c) + wpe(t, c);
                       });
}

// Integer scratch that encoder_backward needs: a counter per row of wte and
// an entry per position.
inline std::size_t encoder_backward_scratch_size(int vocab_rows, int positions) {
  return std::size_t(vocab_rows) + positions;
}

// dwte[tokens[b,t], :] += dout[b*T+t, :];  dwpe[t, :] += sum_b dout[b*T+t, :]
// += because gradients accumulate over micro-batches, and dwte already holds
// the LM head's contribution.
// dwte [Vp, C], dwpe [T, C], dout [B*T, C], tokens [B, T];
// scratch: encoder_backward_scratch_size(Vp, B*T) ints (kept by the caller).
// Every sum adds its terms in ascending position order, so the result does not
// depend on threads or backend, and no floating-point atomics are needed.
template <class T>
void encoder_backward(Tensor2<T> dwte, Tensor2<T> dwpe, ConstTensor2<T> dout, TokenView tokens,
                      Kokkos::View<int*, MemSpace> scratch, const ExecSpace& space = ExecSpace()) {
  const int B = tokens.extent(0), Tn = tokens.extent(1), C = dout.extent(1), N = B * Tn, Vp = dwte.extent(0);
  // dwpe: a team per position t adds the B rows of t in order; threads (on
  // CPUs: the inner loop) run over consecutive channels.
  Kokkos::parallel_for("encoder_backward_wpe", TeamPolicy(space, Tn, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int t = team.league_rank();
    for (int b = 0; b < B; ++b)
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, C), [&](const int c) { dwpe(t, c) += dout(b * Tn + t, c); });
  });

  // dwte: the same token may occur at many positions. The positions are
  // grouped by token with integer counting (a stable counting sort), then a
  // team per token adds its positions' rows in ascending position order.
  const Kokkos::View<const int*, MemSpace, Unmanaged> ids(tokens.data(), N);  // [B, T] is contiguous
  const Kokkos::View<int*, MemSpace, Unmanaged> cursor(scratch.data(), Vp), order(scratch.data() + Vp, N);
  Kokkos::parallel_for("encoder_backward_wte_zero", RangePolicy(space, 0, Vp), KOKKOS_LAMBDA(const int v) { cursor(v) = 0; });
  Kokkos::parallel_for("encoder_backward_wte_count", RangePolicy(space, 0, N), KOKKOS_LAMBDA(const int p) {
    Kokkos::atomic_add(&cursor(ids(p)), 1);  // integers: exact in any order
  });
  // cursor[v] = number of positions with a smaller token: where v's group starts.
  Kokkos::parallel_scan("encoder_backward_wte_offsets", RangePolicy(space, 0, Vp),
                        KOKKOS_LAMBDA(const int v, int& before, const bool final) {
    const int count = cursor(v);
    if (final) cursor(v) = before;
    before += count;
  });
  // order[] = positions sorted by token, ascending within a token. One team
  // walks the positions in rounds of team_size: a position goes after its
  // token's positions of earlier rounds (cursor) and of this round before it.
  Kokkos::parallel_for("encoder_backward_wte_group", TeamPolicy(space, 1, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int ts = team.team_size();
    for (int base = 0; base < N; base += ts) {
      const int n = N - base < ts ? N - base : ts;
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, n), [&](const int j) {
        const int v = ids(base + j);
        int before = 0;
        for (int q = 0; q < j; ++q) before += ids(base + q) == v ? 1 : 0;
        order(cursor(v) + before) = base + j;
      });
      team.team_barrier();
      // The round's last position of each token moves the token's cursor past the round.
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, n), [&](const int j) {
        const int v = ids(base + j);
        int count = 0;
        bool last = true;
        for (int q = 0; q < n; ++q)
          if (ids(base + q) == v) {
            ++count;
            if (q > j) last = false;
          }
        if (last) cursor(v) += count;
      });
      team.team_barrier();
    }
  });
  // A team per entry of order[]; the first entry of each token's group adds
  // the group's rows to the token's row of dwte, one position after another
  // (the order of the serial loop), threads over consecutive channels.
  Kokkos::parallel_for("encoder_backward_wte", TeamPolicy(space, N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int i = team.league_rank(), v = ids(order(i));
    if (i > 0 && ids(order(i - 1)) == v) return;  // not the group's first: the same for the whole team
    for (int j = i; j < N && ids(order(j)) == v; ++j) {
      const int p = order(j);
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, C), [&](const int c) { dwte(v, c) += dout(p, c); });
    }
  });
}

}  // namespace sk
