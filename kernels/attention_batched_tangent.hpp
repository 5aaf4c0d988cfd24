// Tangents (the R-operator) of causal attention with the scores in memory,
// the counterpart of attention_batched.hpp for GPUs: every (batch, head) at
// once, the products as strided-batched gemms, Kokkos kernels between them.
// The formulas, in matrix form per head (attention_tangent.hpp has them per
// element):
//   P = exp(Q K^T scale - lse),  R{S} = Qd K^T + Q Kd^T,  R{P} = P (R{S} scale - m)
//   R{out} = R{P} V + P Vd
//   dP = G V^T,  R{dP} = Gd V^T + G Vd^T,  dS = P (dP - delta) scale
//   R{dS} = (R{P} (dP - delta) + P (R{dP} - R{delta})) scale
//   R{dq} = R{dS} K + dS Kd,  R{dk} = R{dS}^T Q + dS^T Qd,  R{dv} = R{P}^T G + P^T Gd
// Memory: attention_batched_tangent_scratch_size, four [B*NH, T, T] score
// buffers and eleven [B*NH, T, HS] head buffers, for one layer's call only.
#pragma once
#include "attention_batched.hpp"

namespace sk {
namespace attention_batched_tangent_detail {

using attention_batched_detail::in;
using attention_batched_detail::merge_head_outputs;
using attention_batched_detail::merge_heads;
using attention_batched_detail::split_heads;

// q, k, v and their tangents qd, kd, vd; g, gd (dout and its tangent; the
// forward puts R{out} in g); rdq, rdk, rdv [B*NH, T, HS]; delta, R{delta}
// [B*NH*T]; p, R{p}, ds, R{ds} [B*NH, T, T] (dp and R{dp} before they become
// ds and R{ds}).
template <class T>
struct TangentHeads {
  T *q, *k, *v, *qd, *kd, *vd, *g, *gd, *rdq, *rdk, *rdv, *delta, *delta_dot, *p, *pd, *ds, *dsd;
  int batch, T_, HS;
  static std::size_t size(AttentionShape sh) {
    const std::size_t bt = std::size_t(sh.B) * sh.NH * sh.T;
    return 11 * bt * sh.HS + 2 * bt + 4 * bt * sh.T;
  }
  TangentHeads(T* mem, AttentionShape sh) : batch(sh.B * sh.NH), T_(sh.T), HS(sh.HS) {
    const std::size_t bt = std::size_t(batch) * sh.T, head = bt * sh.HS, scores = bt * sh.T;
    q = mem, k = q + head, v = k + head, qd = v + head, kd = qd + head, vd = kd + head, g = vd + head;
    gd = g + head, rdq = gd + head, rdk = rdq + head, rdv = rdk + head, delta = rdv + head, delta_dot = delta + bt;
    p = delta_dot + bt, pd = p + scores, ds = pd + scores, dsd = ds + scores;
  }
  MatrixBatch<T> rows_hs(T* m) const { return {m, T_, HS}; }
  MatrixBatch<T> scores(T* m) const { return {m, T_, T_}; }
  // c (+)= op(a) . op(b) for every head.
  void product(const char* ta, const char* tb, MatrixBatch<T> a, MatrixBatch<T> b, T beta, MatrixBatch<T> c,
               const ExecSpace& space) const {
    batched_gemm<T>(ta, tb, batch, in(a), in(b), beta, c, space);
  }
};

// Splits qkv and its tangent into heads; p = Q K^T, pd = R{S} = Qd K^T + Q Kd^T.
template <class T>
void scores_and_tangent(const TangentHeads<T>& th, ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot, AttentionShape sh,
                        const ExecSpace& space) {
  split_heads(th.q, th.k, th.v, qkv, sh, space);
  split_heads(th.qd, th.kd, th.vd, qkv_dot, sh, space);
  th.product("N", "T", th.rows_hs(th.q), th.rows_hs(th.k), T(0), th.scores(th.p), space);
  th.product("N", "T", th.rows_hs(th.qd), th.rows_hs(th.k), T(0), th.scores(th.pd), space);
  th.product("N", "T", th.rows_hs(th.q), th.rows_hs(th.kd), T(1), th.scores(th.pd), space);
}

}  // namespace attention_batched_tangent_detail

inline std::size_t attention_batched_tangent_scratch_size(AttentionShape s) {
  return attention_batched_tangent_detail::TangentHeads<float>::size(s);
}

// Same contract as attention_forward_tangent (kernels/attention.hpp).
template <class T>
void attention_forward_tangent_batched(Tensor2<T> out_dot, Tensor1<T> lse_dot, Tensor1<T> scratch,
                                       ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot, ConstTensor1<T> lse,
                                       AttentionShape sh, const ExecSpace& space = ExecSpace()) {
  using namespace attention_batched_tangent_detail;
  const int Tn = sh.T;
  const T scale = T(1) / kmath::sqrt(T(sh.HS));
  const TangentHeads<T> th(scratch.data(), sh);
  scores_and_tangent(th, qkv, qkv_dot, sh, space);
  // Row r = (b*NH + h)*T + t sees keys 0 .. t: p there, 0 beyond;
  // m = R{lse} = sum p R{S} scale, then R{p} = p (R{S} scale - m). A team per row.
  T *p = th.p, *pd = th.pd;
  Kokkos::parallel_for("attention_forward_tangent_scores", TeamPolicy(space, th.batch * Tn, Kokkos::AUTO),
                       KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank(), n = r % Tn + 1;
    T *pr = p + std::size_t(r) * Tn, *pdr = pd + std::size_t(r) * Tn;
    const T l = lse(r);
    T m = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, Tn), [&](const int c, T& acc) {
      pr[c] = c < n ? fast_exp(pr[c] * scale - l) : T(0);
      acc += pr[c] * pdr[c] * scale;
    }, m);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, Tn), [&](const int c) { pdr[c] = pr[c] * (pdr[c] * scale - m); });
    Kokkos::single(Kokkos::PerTeam(team), [&]() { lse_dot(r) = m; });
  });
  th.product("N", "N", th.scores(th.pd), th.rows_hs(th.v), T(0), th.rows_hs(th.g), space);
  th.product("N", "N", th.scores(th.p), th.rows_hs(th.vd), T(1), th.rows_hs(th.g), space);
  merge_head_outputs("attention_tangent_merge_heads", out_dot, th.g, sh, space);
}

// Same contract as attention_backward_tangent (kernels/attention.hpp).
template <class T>
void attention_backward_tangent_batched(Tensor2<T> rdqkv, Tensor1<T> scratch, ConstTensor2<T> dout,
                                        ConstTensor2<T> rdout, ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot,
                                        ConstTensor2<T> out, ConstTensor2<T> out_dot, ConstTensor1<T> lse,
                                        ConstTensor1<T> lse_dot, AttentionShape sh,
                                        const ExecSpace& space = ExecSpace()) {
  using namespace attention_batched_tangent_detail;
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const TangentHeads<T> th(scratch.data(), sh);
  scores_and_tangent(th, qkv, qkv_dot, sh, space);
  // dout and its tangent per head; delta_r = dout_r . out_r and its tangent.
  T *g = th.g, *gd = th.gd, *delta = th.delta, *delta_dot = th.delta_dot;
  Kokkos::parallel_for("attention_backward_tangent_split", RangePolicy(space, 0, th.batch * Tn),
                       KOKKOS_LAMBDA(const int r) {
    const int bh = r / Tn, t = r % Tn, row = (bh / NH) * Tn + t, col = (bh % NH) * HS;
    T d = 0, dd = 0;
    for (int i = 0; i < HS; ++i) {
      g[std::size_t(r) * HS + i] = dout(row, col + i);
      gd[std::size_t(r) * HS + i] = rdout(row, col + i);
      d += dout(row, col + i) * out(row, col + i);
      dd += rdout(row, col + i) * out(row, col + i) + dout(row, col + i) * out_dot(row, col + i);
    }
    delta[r] = d;
    delta_dot[r] = dd;
  });
  th.product("N", "T", th.rows_hs(th.g), th.rows_hs(th.v), T(0), th.scores(th.ds), space);
  th.product("N", "T", th.rows_hs(th.gd), th.rows_hs(th.v), T(0), th.scores(th.dsd), space);
  th.product("N", "T", th.rows_hs(th.g), th.rows_hs(th.vd), T(1), th.scores(th.dsd), space);
  T *p = th.p, *pd = th.pd, *ds = th.ds, *dsd = th.dsd;
  Kokkos::parallel_for("attention_backward_tangent_scores", Range2D(space, {0, 0}, {th.batch * Tn, Tn}),
                       KOKKOS_LAMBDA(const int r, const int c) {
    const std::size_t at = std::size_t(r) * Tn + c;
    const T e = c <= r % Tn ? fast_exp(p[at] * scale - lse(r)) : T(0);
    const T ed = e * (pd[at] * scale - lse_dot(r)), dp = ds[at] - delta[r];
    p[at] = e;
    pd[at] = ed;
    ds[at] = e * dp * scale;
    dsd[at] = (ed * dp + e * (dsd[at] - delta_dot[r])) * scale;
  });
  th.product("N", "N", th.scores(th.dsd), th.rows_hs(th.k), T(0), th.rows_hs(th.rdq), space);
  th.product("N", "N", th.scores(th.ds), th.rows_hs(th.kd), T(1), th.rows_hs(th.rdq), space);
  th.product("T", "N", th.scores(th.dsd), th.rows_hs(th.q), T(0), th.rows_hs(th.rdk), space);
  th.product("T", "N", th.scores(th.ds), th.rows_hs(th.qd), T(1), th.rows_hs(th.rdk), space);
  th.product("T", "N", th.scores(th.pd), th.rows_hs(th.g), T(0), th.rows_hs(th.rdv), space);
  th.product("T", "N", th.scores(th.p), th.rows_hs(th.gd), T(1), th.rows_hs(th.rdv), space);
  merge_heads("attention_backward_tangent_merge", rdqkv, th.rdq, th.rdk, th.rdv, sh, space);
}

}  // namespace sk
