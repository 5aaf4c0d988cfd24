// LayerNorm over the channel dimension, eps = 1e-5 as in GPT-2.
#pragma once
#include <string>

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

// dweight[c] += sum_r w_term(r, c) and dbias[c] += sum_r b_term(r, c), where
// terms(r, c, w_term, b_term) adds the two terms of row r, column c: the
// parameter gradients of LayerNorm and of its tangent are such column sums
// over the N rows, in two stages (kernels/reduction.hpp). Stage 1: a team per
// (block of kRowBlock rows, tile of columns) adds its rows in order into its
// row of the partials; a thread owns the same columns for every row, so the
// rows need no barrier. Threads (on CPUs: the inner loop) run over
// consecutive columns. Stage 2: each column adds its blocks' partials in
// block order. partials: column_partials_size(N, C, 2) elements.
template <class T, class Terms>
void layernorm_param_sums(const char* label, Tensor1<T> dweight, Tensor1<T> dbias, Tensor1<T> partials, int N, int C,
                          Terms terms, const ExecSpace& space) {
  const int n_blocks = row_blocks(N), n_tiles = (C + kColumnTile - 1) / kColumnTile;
  const Tensor2<T> dw_part(partials.data(), n_blocks, C), db_part(partials.data() + std::size_t(n_blocks) * C, n_blocks, C);
  Kokkos::parallel_for(std::string(label) + "_blocks", TeamPolicy(space, n_blocks * n_tiles, Kokkos::AUTO),
                       KOKKOS_LAMBDA(const Member& team) {
    const int blk = team.league_rank() / n_tiles, c0 = team.league_rank() % n_tiles * kColumnTile;
    const int c1 = C - c0 < kColumnTile ? C : c0 + kColumnTile;
    const int r0 = blk * kRowBlock, r1 = N - r0 < kRowBlock ? N : r0 + kRowBlock;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, c0, c1), [&](const int c) {
      dw_part(blk, c) = 0;
      db_part(blk, c) = 0;
    });
    for (int r = r0; r < r1; ++r)
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, c0, c1),
                           [&](const int c) { terms(r, c, dw_part(blk, c), db_part(blk, c)); });
  });
  add_column_partials<T>((std::string(label) + "_sum").c_str(), dweight, dw_part, space);
  add_column_partials<T>((std::string(label) + "_sum").c_str(), dbias, db_part, space);
}

// The terms of layernorm_backward's parameter sums: dout * norm and dout.
template <class T>
struct LayerNormParamTerms {
  ConstTensor2<T> dout, inp;
  ConstTensor1<T> mean, rstd;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int c, T& dw, T& db) const {
    const T d = dout(r, c);
    dw += d * (inp(r, c) - mean(r)) * rstd(r);
    db += d;
  }
};

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

  if (dweight.extent(0) == 0) return;  // the input's gradient only (an HVP without the gradient)
  layernorm_param_sums<T>("layernorm_backward_params", dweight, dbias, partials, N, C,
                          LayerNormParamTerms<T>{dout, inp, mean, rstd}, space);
}

// Tangent of the forward (the R-operator, for Hessian-vector products), for
// input, weight and bias tangents inp_dot, weight_dot, bias_dot. With
// n = (x - m) s the normalised row, s = rstd:
//   R{m} = mean(x_dot),  R{s} = -s^3 mean((x - m) x_dot)   (d var = 2 mean((x - m) x_dot))
//   R{n} = (x_dot - R{m}) s + (x - m) R{s}
//   out_dot = R{n} weight + n weight_dot + bias_dot
// mean_dot, rstd_dot [N] get R{m} and R{s}, for the backward's tangent.
template <class T>
void layernorm_forward_tangent(Tensor2<T> out_dot, Tensor1<T> mean_dot, Tensor1<T> rstd_dot, ConstTensor2<T> inp,
                               ConstTensor2<T> inp_dot, ConstTensor1<T> weight, ConstTensor1<T> weight_dot,
                               ConstTensor1<T> bias_dot, ConstTensor1<T> mean, ConstTensor1<T> rstd,
                               const ExecSpace& space = ExecSpace()) {
  const int N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for("layernorm_forward_tangent", TeamPolicy(space, N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const T* x = &inp(r, 0);
    const T* xd = &inp_dot(r, 0);
    T* yd = &out_dot(r, 0);
    const T m = mean(r), s = rstd(r);
    const T md = team_lane_sum<T>(team, C, [&](int c) { return xd[c]; }) / C;
    const T sd = -s * s * s * team_lane_sum<T>(team, C, [&](int c) { return (x[c] - m) * xd[c]; }) / C;
    for_lane_groups(team, C, [&](int c, int) {
      const T nd = (xd[c] - md) * s + (x[c] - m) * sd;
      yd[c] = nd * weight(c) + (x[c] - m) * s * weight_dot(c) + bias_dot(c);
    });
    if (team.team_rank() == 0) {
      mean_dot(r) = md;
      rstd_dot(r) = sd;
    }
  });
}

// The terms of layernorm_backward_tangent's parameter sums: rdout * n +
// dout * R{n} and rdout.
template <class T>
struct LayerNormTangentParamTerms {
  ConstTensor2<T> dout, rdout, inp, inp_dot;
  ConstTensor1<T> mean, rstd, mean_dot, rstd_dot;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int c, T& dw, T& db) const {
    const T xm = inp(r, c) - mean(r), s = rstd(r);
    dw += rdout(r, c) * xm * s + dout(r, c) * ((inp_dot(r, c) - mean_dot(r)) * s + xm * rstd_dot(r));
    db += rdout(r, c);
  }
};

// Tangent of the backward. With g = dout weight, the backward is
//   dx = s (g - mean(g) - n mean(g n)),  dweight += sum_r dout n,  dbias += sum_r dout
// and its tangent, with R{g} = rdout weight + dout weight_dot and R{n}, R{s} as above:
//   R{dx} = R{s} (g - mean(g) - n mean(g n))
//         + s (R{g} - mean(R{g}) - R{n} mean(g n) - n mean(R{g} n + g R{n}))
//   R{dweight} += sum_r (rdout n + dout R{n}),  R{dbias} += sum_r rdout
// All three add (+=), as layernorm_backward does; mean_dot, rstd_dot come
// from layernorm_forward_tangent; partials as for layernorm_backward.
template <class T>
void layernorm_backward_tangent(Tensor2<T> rdinp, Tensor1<T> rdweight, Tensor1<T> rdbias, ConstTensor2<T> dout,
                                ConstTensor2<T> rdout, ConstTensor2<T> inp, ConstTensor2<T> inp_dot,
                                ConstTensor1<T> weight, ConstTensor1<T> weight_dot, ConstTensor1<T> mean,
                                ConstTensor1<T> rstd, ConstTensor1<T> mean_dot, ConstTensor1<T> rstd_dot,
                                Tensor1<T> partials, const ExecSpace& space = ExecSpace()) {
  const int N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for("layernorm_backward_tangent_input", TeamPolicy(space, N, Kokkos::AUTO),
                       KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const T m = mean(r), s = rstd(r), md = mean_dot(r), sd = rstd_dot(r);
    const T *x = &inp(r, 0), *xd = &inp_dot(r, 0), *dy = &dout(r, 0), *rdy = &rdout(r, 0);
    const auto n = [&](int c) { return (x[c] - m) * s; };
    const auto nd = [&](int c) { return (xd[c] - md) * s + (x[c] - m) * sd; };
    const auto gd = [&](int c) { return rdy[c] * weight(c) + dy[c] * weight_dot(c); };
    const T g_mean = team_lane_sum<T>(team, C, [&](int c) { return dy[c] * weight(c); }) / C;
    const T gn_mean = team_lane_sum<T>(team, C, [&](int c) { return dy[c] * weight(c) * n(c); }) / C;
    const T gd_mean = team_lane_sum<T>(team, C, gd) / C;
    const T gn_dot = team_lane_sum<T>(team, C, [&](int c) { return gd(c) * n(c) + dy[c] * weight(c) * nd(c); }) / C;
    T* rdx = &rdinp(r, 0);
    for_lane_groups(team, C, [&](int c, int) {
      const T g = dy[c] * weight(c);
      rdx[c] += sd * (g - g_mean - n(c) * gn_mean) + s * (gd(c) - gd_mean - nd(c) * gn_mean - n(c) * gn_dot);
    });
  });
  layernorm_param_sums<T>("layernorm_backward_tangent_params", rdweight, rdbias, partials, N, C,
                          LayerNormTangentParamTerms<T>{dout, rdout, inp, inp_dot, mean, rstd, mean_dot, rstd_dot},
                          space);
}

}  // namespace sk
