// LayerNorm over the channel dimension, eps = 1e-5 as in GPT-2.
#pragma once
#include "reduction.hpp"
#include "views.hpp"

namespace sk {

// out[r, :] = (inp[r, :] - mean_r) * rstd_r * weight + bias
// out, inp [N, C]; weight, bias [C]; mean, rstd [N] are kept for the backward.
// One team per row: the row's mean and variance are team sums in lane groups
// (kernels/lanes.hpp), which vectorise on CPUs.
template <class T>
void layernorm_forward(Tensor2<T> out, Tensor1<T> mean, Tensor1<T> rstd, ConstTensor2<T> inp,
                       ConstTensor1<T> weight, ConstTensor1<T> bias, const ExecSpace& space = ExecSpace()) {
  const int N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for("layernorm_forward", TeamPolicy(space, N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const T* x = &inp(r, 0);
    T* y = &out(r, 0);
    const T m = team_lane_sum<T>(team, C, [&](int c) { return x[c]; }) / C;
    const T var = team_lane_sum<T>(team, C, [&](int c) { return (x[c] - m) * (x[c] - m); }) / C;
    const T s = T(1) / kmath::sqrt(var + T(1e-5));
    for_lane_groups(team, C, [&](int c, int) { y[c] = (x[c] - m) * s * weight(c) + bias(c); });
    if (team.team_rank() == 0) {
      mean(r) = m;
      rstd(r) = s;
    }
  });
}

// dinp += d(out)/d(inp) . dout;  dweight += sum_r dout*norm;  dbias += sum_r dout
// += on dinp because it is the residual stream's running gradient; on the
// parameter gradients because they accumulate over micro-batches.
// dinp, dout, inp [N, C]; weight, dweight, dbias [C]; mean, rstd [N];
// partials: scratch of column_partials_size(N, C, 2) elements (the caller
// keeps it, so that no call allocates).
template <class T>
void layernorm_backward(Tensor2<T> dinp, Tensor1<T> dweight, Tensor1<T> dbias, ConstTensor2<T> dout,
                        ConstTensor2<T> inp, ConstTensor1<T> weight, ConstTensor1<T> mean,
                        ConstTensor1<T> rstd, Tensor1<T> partials, const ExecSpace& space = ExecSpace()) {
  const int N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for("layernorm_backward_input", TeamPolicy(space, N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const T m = mean(r), s = rstd(r);
    const T* x = &inp(r, 0);
    const T* dy = &dout(r, 0);
    T* dx = &dinp(r, 0);
    // Means over c of g = dout*weight and of g*norm.
    const T g_mean = team_lane_sum<T>(team, C, [&](int c) { return dy[c] * weight(c); }) / C;
    const T gn_mean = team_lane_sum<T>(team, C, [&](int c) { return dy[c] * weight(c) * (x[c] - m) * s; }) / C;
    for_lane_groups(team, C, [&](int c, int) {
      const T norm = (x[c] - m) * s;
      dx[c] += (dy[c] * weight(c) - g_mean - norm * gn_mean) * s;
    });
  });

  // The parameter gradients are column sums over the N rows, in two stages
  // (kernels/reduction.hpp). Stage 1: a team per (block of kRowBlock rows,
  // tile of columns) adds its rows in order into its row of the partials;
  // a thread owns the same columns for every row, so the rows need no barrier.
  // Threads (on CPUs: the inner loop) run over consecutive columns.
  const int n_blocks = row_blocks(N), n_tiles = (C + kColumnTile - 1) / kColumnTile;
  const Tensor2<T> dw_part(partials.data(), n_blocks, C), db_part(partials.data() + std::size_t(n_blocks) * C, n_blocks, C);
  Kokkos::parallel_for("layernorm_backward_params_blocks", TeamPolicy(space, n_blocks * n_tiles, Kokkos::AUTO),
                       KOKKOS_LAMBDA(const Member& team) {
    const int blk = team.league_rank() / n_tiles, c0 = team.league_rank() % n_tiles * kColumnTile;
    const int c1 = C - c0 < kColumnTile ? C : c0 + kColumnTile;
    const int r0 = blk * kRowBlock, r1 = N - r0 < kRowBlock ? N : r0 + kRowBlock;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, c0, c1), [&](const int c) {
      dw_part(blk, c) = 0;
      db_part(blk, c) = 0;
    });
    for (int r = r0; r < r1; ++r) {
      const T m = mean(r), s = rstd(r);
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, c0, c1), [&](const int c) {
        const T d = dout(r, c);
        dw_part(blk, c) += d * (inp(r, c) - m) * s;
        db_part(blk, c) += d;
      });
    }
  });
  // Stage 2: each column adds its blocks' partials in block order.
  add_column_partials<T>("layernorm_backward_params_sum", dweight, dw_part, space);
  add_column_partials<T>("layernorm_backward_params_sum", dbias, db_part, space);
}

}  // namespace sk
