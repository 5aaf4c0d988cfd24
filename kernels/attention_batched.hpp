// Causal attention with the scores in memory, for GPUs where they fit: every
// (batch, head) at once, the products as strided-batched gemms (on the
// tensor cores with TF32, kernels/batched_gemm.hpp) and the softmax and score
// gradient as Kokkos kernels between them. The [B*NH, T, T] scores and their
// gradient live in scratch for one layer's call only: the backward rebuilds
// the probabilities from the forward's logsumexp, as the other
// implementations do, so no layer keeps anything of size T x T.
//
// Memory: attention_batched_scratch_size, about 2 * B*NH*T*T elements
// (0.8 GB for gpt2 at B=8, T=1024); kernels/attention.hpp takes this path
// when that fits its budget and the tiled O(T) kernels otherwise.
#pragma once
#include "attention_shape.hpp"
#include "batched_gemm.hpp"
#include "fast_math.hpp"

namespace sk {
namespace attention_batched_detail {

// Scratch layout: q, k, v, g (the output, then dout), dq, dk, dv [B*NH, T, HS];
// delta [B*NH*T]; scores and their gradient [B*NH, T, T].
template <class T>
struct Heads {
  T *q, *k, *v, *g, *dq, *dk, *dv, *delta, *s, *ds;
  int batch, T_, HS;
  static std::size_t size(AttentionShape sh) {
    const std::size_t bt = std::size_t(sh.B) * sh.NH * sh.T;
    return 7 * bt * sh.HS + bt + 2 * bt * sh.T;
  }
  Heads(T* mem, AttentionShape sh) : batch(sh.B * sh.NH), T_(sh.T), HS(sh.HS) {
    const std::size_t head = std::size_t(batch) * sh.T * sh.HS, scores = std::size_t(batch) * sh.T * sh.T;
    q = mem, k = q + head, v = k + head, g = v + head, dq = g + head, dk = dq + head, dv = dk + head;
    delta = dv + head, s = delta + std::size_t(batch) * sh.T, ds = s + scores;
  }
  MatrixBatch<T> rows_hs(T* p) const { return {p, T_, HS}; }
  MatrixBatch<T> scores(T* p) const { return {p, T_, T_}; }
};

template <class T>
MatrixBatch<const T> in(MatrixBatch<T> m) {
  return {m.data, m.rows, m.cols};
}

// q, k, v [B*NH, T, HS] from qkv [B*T, 3C] (or their tangents).
template <class T>
void split_heads(T* q, T* k, T* v, ConstTensor2<T> qkv, AttentionShape sh, const ExecSpace& space) {
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS, C = NH * HS;
  Kokkos::parallel_for("attention_split_heads", Range2D(space, {0, 0}, {sh.B * Tn, C}),
                       KOKKOS_LAMBDA(const int r, const int c) {
    const int b = r / Tn, t = r % Tn, h = c / HS, i = c % HS;
    const std::size_t at = (std::size_t(b * NH + h) * Tn + t) * HS + i;
    q[at] = qkv(r, c);
    k[at] = qkv(r, C + c);
    v[at] = qkv(r, 2 * C + c);
  });
}

// The inverse for gradients: dqkv [B*T, 3C] from dq, dk, dv [B*NH, T, HS].
template <class T>
void merge_heads(const char* label, Tensor2<T> dqkv, const T* dq, const T* dk, const T* dv, AttentionShape sh,
                 const ExecSpace& space) {
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS, C = NH * HS;
  Kokkos::parallel_for(label, Range2D(space, {0, 0}, {sh.B * Tn, C}), KOKKOS_LAMBDA(const int r, const int c) {
    const int b = r / Tn, t = r % Tn, h = c / HS, i = c % HS;
    const std::size_t at = (std::size_t(b * NH + h) * Tn + t) * HS + i;
    dqkv(r, c) = dq[at];
    dqkv(r, C + c) = dk[at];
    dqkv(r, 2 * C + c) = dv[at];
  });
}

// out [B*T, C] from o [B*NH, T, HS].
template <class T>
void merge_head_outputs(const char* label, Tensor2<T> out, const T* o, AttentionShape sh, const ExecSpace& space) {
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS;
  Kokkos::parallel_for(label, Range2D(space, {0, 0}, {sh.B * Tn, NH * HS}), KOKKOS_LAMBDA(const int r, const int c) {
    const int b = r / Tn, t = r % Tn, h = c / HS, i = c % HS;
    out(r, c) = o[(std::size_t(b * NH + h) * Tn + t) * HS + i];
  });
}

}  // namespace attention_batched_detail

inline std::size_t attention_batched_scratch_size(AttentionShape s) {
  return attention_batched_detail::Heads<float>::size(s);
}

// Same contract as attention_forward (kernels/attention.hpp); scratch holds
// attention_batched_scratch_size(s) elements.
template <class T>
void attention_forward_batched(Tensor2<T> out, Tensor1<T> lse, Tensor1<T> scratch, ConstTensor2<T> qkv,
                               AttentionShape sh, const ExecSpace& space = ExecSpace()) {
  using namespace attention_batched_detail;
  const int Tn = sh.T, HS = sh.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const Heads<T> hd(scratch.data(), sh);
  split_heads(hd.q, hd.k, hd.v, qkv, sh, space);
  // s = q k^T for all T x T pairs; the softmax below masks the future.
  batched_gemm<T>("N", "T", hd.batch, in(hd.rows_hs(hd.q)), in(hd.rows_hs(hd.k)), T(0), hd.scores(hd.s),
                  space);
  // Row r = (b*NH + h)*T + t sees keys 0 .. t: p = softmax(s * scale) there,
  // 0 beyond; lse[r] = log sum exp(s * scale). A team per row.
  T* s = hd.s;
  Kokkos::parallel_for("attention_softmax", TeamPolicy(space, hd.batch * Tn, Kokkos::AUTO),
                       KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank(), n = r % Tn + 1;
    T* p = s + std::size_t(r) * Tn;
    T m = 0, sum = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, n), [&](const int c, T& mx) {
      mx = p[c] * scale > mx ? p[c] * scale : mx;
    }, Kokkos::Max<T>(m));
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, n), [&](const int c, T& acc) {
      acc += fast_exp(p[c] * scale - m);
    }, sum);
    const T inv = T(1) / sum;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, Tn), [&](const int c) {
      p[c] = c < n ? fast_exp(p[c] * scale - m) * inv : T(0);
    });
    Kokkos::single(Kokkos::PerTeam(team), [&]() { lse(r) = m + kmath::log(sum); });
  });
  batched_gemm<T>("N", "N", hd.batch, in(hd.scores(hd.s)), in(hd.rows_hs(hd.v)), T(0), hd.rows_hs(hd.g),
                  space);
  merge_head_outputs("attention_merge_heads", out, hd.g, sh, space);
}

// Same contract as attention_backward (kernels/attention.hpp); scratch holds
// attention_batched_scratch_size(s) elements.
template <class T>
void attention_backward_batched(Tensor2<T> dqkv, Tensor1<T> scratch, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                                ConstTensor2<T> out, ConstTensor1<T> lse, AttentionShape sh,
                                const ExecSpace& space = ExecSpace()) {
  using namespace attention_batched_detail;
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const Heads<T> hd(scratch.data(), sh);
  split_heads(hd.q, hd.k, hd.v, qkv, sh, space);
  // dout per head, and delta_r = dout_r . out_r (= sum over keys of p dp).
  T *g = hd.g, *delta = hd.delta;
  Kokkos::parallel_for("attention_backward_split", RangePolicy(space, 0, hd.batch * Tn), KOKKOS_LAMBDA(const int r) {
    const int bh = r / Tn, t = r % Tn, b = bh / NH, h = bh % NH;
    const int row = b * Tn + t;
    T dot = 0;
    for (int i = 0; i < HS; ++i) {
      const T d = dout(row, h * HS + i);
      g[std::size_t(r) * HS + i] = d;
      dot += d * out(row, h * HS + i);
    }
    delta[r] = dot;
  });
  batched_gemm<T>("N", "T", hd.batch, in(hd.rows_hs(hd.q)), in(hd.rows_hs(hd.k)), T(0), hd.scores(hd.s),
                  space);
  batched_gemm<T>("N", "T", hd.batch, in(hd.rows_hs(hd.g)), in(hd.rows_hs(hd.v)), T(0), hd.scores(hd.ds),
                  space);
  // p = exp(s * scale - lse) where the query sees the key, else 0;
  // ds = p (dp - delta) * scale.
  T *s = hd.s, *ds = hd.ds;
  Kokkos::parallel_for("attention_backward_scores", Range2D(space, {0, 0}, {hd.batch * Tn, Tn}),
                       KOKKOS_LAMBDA(const int r, const int c) {
    const std::size_t at = std::size_t(r) * Tn + c;
    const T p = c <= r % Tn ? fast_exp(s[at] * scale - lse(r)) : T(0);
    s[at] = p;
    ds[at] = p * (ds[at] - delta[r]) * scale;
  });
  batched_gemm<T>("T", "N", hd.batch, in(hd.scores(hd.s)), in(hd.rows_hs(hd.g)), T(0), hd.rows_hs(hd.dv),
                  space);
  batched_gemm<T>("T", "N", hd.batch, in(hd.scores(hd.ds)), in(hd.rows_hs(hd.q)), T(0), hd.rows_hs(hd.dk),
                  space);
  batched_gemm<T>("N", "N", hd.batch, in(hd.scores(hd.ds)), in(hd.rows_hs(hd.k)), T(0), hd.rows_hs(hd.dq),
                  space);
  merge_heads("attention_backward_merge", dqkv, hd.dq, hd.dk, hd.dv, sh, space);
}

}  // namespace sk
