// Tangents (the R-operator, for Hessian-vector products) of causal attention
// (kernels/attention.hpp) as row kernels, the implementation on GPUs; host
// backends use BLAS blocks (attention_blocked_tangent.hpp), and the tests
// check one against the other. As the backward does, they rebuild each row's
// probabilities from the forward's logsumexp and keep nothing of size T x T:
// a team owns one query row (or, for dk and dv, one key row) and holds O(T)
// values of that row in team scratch.
//
// For one head, with scale = 1/sqrt(HS), s(t, j) = q_t . k_j, p = exp(s scale - lse_t):
//   R{s}(t, j)  = q_dot_t . k_j + q_t . k_dot_j
//   R{lse}_t    = m_t = sum_j p(t, j) R{s}(t, j) scale
//   R{p}(t, j)  = p (R{s} scale - m_t)                 (the softmax Jacobian)
//   R{out}_t    = sum_j R{p}(t, j) v_j + p(t, j) v_dot_j
// and for the backward (dp = dout_t . v_j, delta_t = dout_t . out_t,
// ds = p (dp - delta) scale, dq_t = sum_j ds k_j, dk_j = sum_t ds q_t,
// dv_j = sum_t p dout_t):
//   R{dp}      = rdout_t . v_j + dout_t . v_dot_j
//   R{delta}_t = rdout_t . out_t + dout_t . R{out}_t
//   R{ds}      = (R{p} (dp - delta) + p (R{dp} - R{delta})) scale
//   R{dq}_t = sum_j R{ds} k_j + ds k_dot_j,  R{dk}_j = sum_t R{ds} q_t + ds q_dot_t,
//   R{dv}_j = sum_t R{p} dout_t + p rdout_t
// Every output element is summed by one thread in ascending order: no
// atomics, the same bits on every run.
#pragma once
#include "attention_shape.hpp"

namespace sk {

namespace attention_tangent_detail {

using Scratch = ExecSpace::scratch_memory_space;
template <class T>
using ScratchView = Kokkos::View<T*, Scratch, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// A team per row with `per_row` values of T for each of T positions in team
// scratch: level 0 (GPU shared memory) when they fit 48 KB, else level 1.
template <class T>
TeamPolicy row_policy(const ExecSpace& space, int league, std::size_t elements, int& level) {
  const std::size_t bytes = ScratchView<T>::shmem_size(elements);
  level = bytes <= 48 * 1024 ? 0 : 1;
  return TeamPolicy(space, league, Kokkos::AUTO).set_scratch_size(level, Kokkos::PerTeam(bytes));
}

template <class T>
KOKKOS_INLINE_FUNCTION T dot(const T* a, const T* b, int n) {
  T s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Rows of one head of a packed [B*T, 3C] qkv (or its tangent), row stride 3C.
template <class T>
struct HeadRows {
  const T *q, *k, *v;
  int ld;
  KOKKOS_INLINE_FUNCTION const T* qr(int t) const { return q + std::size_t(t) * ld; }
  KOKKOS_INLINE_FUNCTION const T* kr(int t) const { return k + std::size_t(t) * ld; }
  KOKKOS_INLINE_FUNCTION const T* vr(int t) const { return v + std::size_t(t) * ld; }
};

template <class T>
KOKKOS_INLINE_FUNCTION HeadRows<T> head_rows(ConstTensor2<T> qkv, int b, int h, AttentionShape s) {
  const int C = s.NH * s.HS;
  return {&qkv(b * s.T, h * s.HS), &qkv(b * s.T, C + h * s.HS), &qkv(b * s.T, 2 * C + h * s.HS), 3 * C};
}

// p, R{p}, ds and R{ds} of query t against key j (see the top of the file);
// the row statistics lse, m, delta, R{delta} are query t's; g, gd its dout and rdout.
template <class T>
struct PairTangent {
  T p, pd, ds, dsd;
};
template <class T>
KOKKOS_INLINE_FUNCTION PairTangent<T> pair_tangent(const HeadRows<T>& x, const HeadRows<T>& xd, const T* g,
                                                   const T* gd, int t, int j, int HS, T scale, T lse, T m, T delta,
                                                   T delta_dot) {
  const T* q = x.qr(t);
  const T* k = x.kr(j);
  const T sdot = dot(xd.qr(t), k, HS) + dot(q, xd.kr(j), HS);
  PairTangent<T> r;
  r.p = kmath::exp(dot(q, k, HS) * scale - lse);
  r.pd = r.p * (sdot * scale - m);
  if (g != nullptr) {
    const T dp = dot(g, x.vr(j), HS), dpd = dot(gd, x.vr(j), HS) + dot(g, xd.vr(j), HS);
    r.ds = r.p * (dp - delta) * scale;
    r.dsd = (r.pd * (dp - delta) + r.p * (dpd - delta_dot)) * scale;
  }
  return r;
}

// out[i] = sum_{j0 <= j < j1} a[j] x(j)[i] + b[j] y(j)[i] for i < HS, a
// thread per i adding in ascending j: the sums over a row's partners that
// make every tangent output row. x(j), y(j) give row j's HS values.
template <class T, class X, class Y>
KOKKOS_INLINE_FUNCTION void combine_rows(const Member& team, T* out, int j0, int j1, const T* a, const T* b, X x, Y y,
                                         int HS) {
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, HS), [&](const int i) {
    T acc = 0;
    for (int j = j0; j < j1; ++j) acc += a[j] * x(j)[i] + b[j] * y(j)[i];
    out[i] = acc;
  });
}

}  // namespace attention_tangent_detail

// Same contract as attention_forward_tangent (kernels/attention.hpp).
template <class T>
void attention_forward_tangent_rows(Tensor2<T> out_dot, Tensor1<T> lse_dot, ConstTensor2<T> qkv,
                                    ConstTensor2<T> qkv_dot, ConstTensor1<T> lse, AttentionShape s,
                                    const ExecSpace& space = ExecSpace()) {
  using namespace attention_tangent_detail;
  const int Tn = s.T, NH = s.NH, HS = s.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  int level = 0;
  const auto policy = row_policy<T>(space, s.B * NH * Tn, 2 * std::size_t(Tn), level);
  Kokkos::parallel_for("attention_forward_tangent", policy, KOKKOS_LAMBDA(const Member& team) {
    const int t = team.league_rank() % Tn, bh = team.league_rank() / Tn, h = bh % NH, b = bh / NH;
    const ScratchView<T> mem(team.team_scratch(level), 2 * Tn);
    T *p = mem.data(), *pd = p + Tn;
    const HeadRows<T> x = head_rows(qkv, b, h, s), xd = head_rows(qkv_dot, b, h, s);
    const T row_lse = lse(std::size_t(bh) * Tn + t);
    // pd first holds p R{s} scale (R{p} for m = 0), then R{p} once m is known.
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, t + 1), [&](const int j) {
      const PairTangent<T> r = pair_tangent<T>(x, xd, nullptr, nullptr, t, j, HS, scale, row_lse, T(0), T(0), T(0));
      p[j] = r.p;
      pd[j] = r.pd;
    });
    team.team_barrier();
    T m = 0;
    Kokkos::single(Kokkos::PerTeam(team), [&](T& acc) {
      acc = 0;
      for (int j = 0; j <= t; ++j) acc += pd[j];
    }, m);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, t + 1), [&](const int j) { pd[j] -= p[j] * m; });
    team.team_barrier();
    combine_rows(team, &out_dot(b * Tn + t, h * HS), 0, t + 1, pd, p, [&](int j) { return x.vr(j); },
                 [&](int j) { return xd.vr(j); }, HS);
    Kokkos::single(Kokkos::PerTeam(team), [&]() { lse_dot(std::size_t(bh) * Tn + t) = m; });
  });
}

namespace attention_tangent_detail {

// R{dq}, and delta, R{delta} [B*NH*T] each (in `deltas`) for the dk/dv kernel.
template <class T>
void backward_tangent_dq(Tensor2<T> rdqkv, Tensor1<T> deltas, ConstTensor2<T> dout, ConstTensor2<T> rdout,
                         ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot, ConstTensor2<T> out, ConstTensor2<T> out_dot,
                         ConstTensor1<T> lse, ConstTensor1<T> lse_dot, AttentionShape s, const ExecSpace& space) {
  const int Tn = s.T, NH = s.NH, HS = s.HS;
  const std::size_t rows = std::size_t(s.B) * NH * Tn;
  const T scale = T(1) / kmath::sqrt(T(HS));
  int level = 0;
  const auto policy = row_policy<T>(space, int(rows), 2 * std::size_t(Tn), level);
  Kokkos::parallel_for("attention_backward_tangent_dq", policy, KOKKOS_LAMBDA(const Member& team) {
    const int t = team.league_rank() % Tn, bh = team.league_rank() / Tn, h = bh % NH, b = bh / NH;
    const std::size_t row = std::size_t(bh) * Tn + t;
    const ScratchView<T> mem(team.team_scratch(level), 2 * Tn);
    T *ds = mem.data(), *dsd = ds + Tn;
    const HeadRows<T> x = head_rows(qkv, b, h, s), xd = head_rows(qkv_dot, b, h, s);
    const T *g = &dout(b * Tn + t, h * HS), *gd = &rdout(b * Tn + t, h * HS);
    const T *o = &out(b * Tn + t, h * HS), *od = &out_dot(b * Tn + t, h * HS);
    const T delta = dot(g, o, HS), delta_dot = dot(gd, o, HS) + dot(g, od, HS);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, t + 1), [&](const int j) {
      const PairTangent<T> r = pair_tangent<T>(x, xd, g, gd, t, j, HS, scale, lse(row), lse_dot(row), delta, delta_dot);
      ds[j] = r.ds;
      dsd[j] = r.dsd;
    });
    team.team_barrier();
    combine_rows(team, &rdqkv(b * Tn + t, h * HS), 0, t + 1, dsd, ds, [&](int j) { return x.kr(j); },
                 [&](int j) { return xd.kr(j); }, HS);
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      deltas(row) = delta;
      deltas(rows + row) = delta_dot;
    });
  });
}

// R{dk} and R{dv}: a team per key j, over the queries t >= j that see it.
template <class T>
void backward_tangent_dkdv(Tensor2<T> rdqkv, ConstTensor1<T> deltas, ConstTensor2<T> dout, ConstTensor2<T> rdout,
                           ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot, ConstTensor1<T> lse, ConstTensor1<T> lse_dot,
                           AttentionShape s, const ExecSpace& space) {
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
  const std::size_t rows = std::size_t(s.B) * NH * Tn;
  const T scale = T(1) / kmath::sqrt(T(HS));
  int level = 0;
  const auto policy = row_policy<T>(space, int(rows), 4 * std::size_t(Tn), level);
  Kokkos::parallel_for("attention_backward_tangent_dkdv", policy, KOKKOS_LAMBDA(const Member& team) {
    const int j = team.league_rank() % Tn, bh = team.league_rank() / Tn, h = bh % NH, b = bh / NH;
    const ScratchView<T> mem(team.team_scratch(level), 4 * Tn);
    T *p = mem.data(), *pd = p + Tn, *ds = pd + Tn, *dsd = ds + Tn;
    const HeadRows<T> x = head_rows(qkv, b, h, s), xd = head_rows(qkv_dot, b, h, s);
    const T *g = &dout(b * Tn, h * HS), *gd = &rdout(b * Tn, h * HS);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, j, Tn), [&](const int t) {
      const std::size_t row = std::size_t(bh) * Tn + t;
      const PairTangent<T> r = pair_tangent<T>(x, xd, g + std::size_t(t) * C, gd + std::size_t(t) * C, t, j, HS,
                                               scale, lse(row), lse_dot(row), deltas(row), deltas(rows + row));
      p[t] = r.p;
      pd[t] = r.pd;
      ds[t] = r.ds;
      dsd[t] = r.dsd;
    });
    team.team_barrier();
    combine_rows(team, &rdqkv(b * Tn + j, C + h * HS), j, Tn, dsd, ds, [&](int t) { return x.qr(t); },
                 [&](int t) { return xd.qr(t); }, HS);
    combine_rows(team, &rdqkv(b * Tn + j, 2 * C + h * HS), j, Tn, pd, p,
                 [&](int t) { return g + std::size_t(t) * C; }, [&](int t) { return gd + std::size_t(t) * C; }, HS);
  });
}

}  // namespace attention_tangent_detail

// Elements of the scratch that attention_backward_tangent_rows takes: delta
// and R{delta} of every row.
inline std::size_t attention_rows_tangent_scratch_size(AttentionShape s) { return 2 * std::size_t(s.B) * s.NH * s.T; }

// Same contract as attention_backward_tangent (kernels/attention.hpp);
// scratch holds attention_rows_tangent_scratch_size(s) elements.
template <class T>
void attention_backward_tangent_rows(Tensor2<T> rdqkv, Tensor1<T> scratch, ConstTensor2<T> dout,
                                     ConstTensor2<T> rdout, ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot,
                                     ConstTensor2<T> out, ConstTensor2<T> out_dot, ConstTensor1<T> lse,
                                     ConstTensor1<T> lse_dot, AttentionShape s, const ExecSpace& space = ExecSpace()) {
  attention_tangent_detail::backward_tangent_dq<T>(rdqkv, scratch, dout, rdout, qkv, qkv_dot, out, out_dot, lse,
                                                   lse_dot, s, space);
  attention_tangent_detail::backward_tangent_dkdv<T>(rdqkv, scratch, dout, rdout, qkv, qkv_dot, lse, lse_dot, s,
                                                     space);
}

}  // namespace sk
