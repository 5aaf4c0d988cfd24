// LayerNorm over the channel dimension, eps = 1e-5 as in GPT-2.
#pragma once
#include "views.hpp"

namespace sk {

// out[r, :] = (inp[r, :] - mean_r) * rstd_r * weight + bias
// out, inp [N, C]; weight, bias [C]; mean, rstd [N] are kept for the backward.
// One team per row: the row's mean and variance are team reductions.
template <class T>
void layernorm_forward(Tensor2<T> out, Tensor1<T> mean, Tensor1<T> rstd, ConstTensor2<T> inp,
                       ConstTensor1<T> weight, ConstTensor1<T> bias) {
  const int N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for("layernorm_forward", TeamPolicy(N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    T sum = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, C), [&](const int c, T& acc) { acc += inp(r, c); }, sum);
    const T m = sum / C;
    T sq = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, C), [&](const int c, T& acc) {
      const T d = inp(r, c) - m;
      acc += d * d;
    }, sq);
    const T s = T(1) / kmath::sqrt(sq / C + T(1e-5));
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, C), [&](const int c) {
      out(r, c) = (inp(r, c) - m) * s * weight(c) + bias(c);
    });
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      mean(r) = m;
      rstd(r) = s;
    });
  });
}

// dinp += d(out)/d(inp) . dout;  dweight += sum_r dout*norm;  dbias += sum_r dout
// += on dinp because it is the residual stream's running gradient; on the
// parameter gradients because they accumulate over micro-batches.
template <class T>
void layernorm_backward(Tensor2<T> dinp, Tensor1<T> dweight, Tensor1<T> dbias, ConstTensor2<T> dout,
                        ConstTensor2<T> inp, ConstTensor1<T> weight, ConstTensor1<T> mean,
                        ConstTensor1<T> rstd) {
  const int N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for("layernorm_backward_input", TeamPolicy(N, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank();
    const T m = mean(r), s = rstd(r);
    // Means over c of g = dout*weight and of g*norm (two reductions: nested
    // reductions of several values at once need Kokkos 4.2).
    T g_mean = 0, gn_mean = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, C), [&](const int c, T& acc) {
      acc += dout(r, c) * weight(c);
    }, g_mean);
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, C), [&](const int c, T& acc) {
      acc += dout(r, c) * weight(c) * (inp(r, c) - m) * s;
    }, gn_mean);
    g_mean /= C;
    gn_mean /= C;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, C), [&](const int c) {
      const T norm = (inp(r, c) - m) * s;
      dinp(r, c) += (dout(r, c) * weight(c) - g_mean - norm * gn_mean) * s;
    });
  });
  // The parameter gradients sum over rows: one thread per channel owns its sum,
  // so rows are added in a fixed order without atomics.
  Kokkos::parallel_for("layernorm_backward_params", RangePolicy(0, C), KOKKOS_LAMBDA(const int c) {
    T dw = 0, db = 0;
    for (int r = 0; r < N; ++r) {
      dw += dout(r, c) * (inp(r, c) - mean(r)) * rstd(r);
      db += dout(r, c);
    }
    dweight(c) += dw;
    dbias(c) += db;
  });
}

}  // namespace sk
