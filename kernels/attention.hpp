// Causal multi-head self-attention on the packed q, k, v of c_attn.
#pragma once
#include "views.hpp"

namespace sk {

// Shapes of one attention call.
struct AttentionShape {
  int B, T, NH, HS;  // batch, sequence, heads, head size (C = NH * HS)
};

// qkv [B*T, 3C]: q at columns [0, C), k at [C, 2C), v at [2C, 3C); head h uses
// columns h*HS .. h*HS+HS-1 of each.
// att [B*NH*T, T]: row (b, h, t) holds softmax_t2(q_t . k_t2 / sqrt(HS)) for
// t2 <= t and 0 above the diagonal; it is kept for the backward pass.
// out [B*T, C]: out[b*T+t, h*HS+i] = sum_t2 att[(b,h,t), t2] * v[b*T+t2, h*HS+i].
// A thread per (b, h, t) row. The innermost loops run over a head's HS
// contiguous channels so that they vectorise.
template <class T>
void attention_forward(Tensor2<T> out, Tensor2<T> att, ConstTensor2<T> qkv, AttentionShape s) {
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  Kokkos::parallel_for("attention_forward", RangePolicy(0, s.B * NH * Tn), KOKKOS_LAMBDA(const int row) {
    const int t = row % Tn, h = (row / Tn) % NH, b = row / (Tn * NH);
    const T* q = &qkv(b * Tn + t, h * HS);
    T* a = &att(row, 0);
    T maxval = Kokkos::reduction_identity<T>::max();  // the lowest value
    for (int t2 = 0; t2 <= t; ++t2) {
      const T* k = &qkv(b * Tn + t2, C + h * HS);
      T dot = 0;
      for (int i = 0; i < HS; ++i) dot += q[i] * k[i];
      a[t2] = dot * scale;
      maxval = a[t2] > maxval ? a[t2] : maxval;
    }
    T sum = 0;
    for (int t2 = 0; t2 <= t; ++t2) {
      a[t2] = kmath::exp(a[t2] - maxval);
      sum += a[t2];
    }
    for (int t2 = 0; t2 <= t; ++t2) a[t2] /= sum;
    for (int t2 = t + 1; t2 < Tn; ++t2) a[t2] = 0;
    T* o = &out(b * Tn + t, h * HS);
    for (int i = 0; i < HS; ++i) o[i] = 0;
    for (int t2 = 0; t2 <= t; ++t2) {
      const T* v = &qkv(b * Tn + t2, 2 * C + h * HS);
      for (int i = 0; i < HS; ++i) o[i] += a[t2] * v[i];
    }
  });
}

// dqkv [B*T, 3C] is overwritten; dpreatt [B*NH*T, T] is scratch of att's shape.
// Two passes so that every thread owns what it writes: pass 1 (a thread per
// query row t) forms the softmax gradient dpreatt and dq; pass 2 (a thread per
// key row t2) gathers dk and dv over the queries t >= t2 that attended to it.
template <class T>
void attention_backward(Tensor2<T> dqkv, Tensor2<T> dpreatt, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                        ConstTensor2<T> att, AttentionShape s) {
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  Kokkos::parallel_for("attention_backward_query", RangePolicy(0, s.B * NH * Tn), KOKKOS_LAMBDA(const int row) {
    const int t = row % Tn, h = (row / Tn) % NH, b = row / (Tn * NH);
    const T* a = &att(row, 0);
    const T* g = &dout(b * Tn + t, h * HS);
    T* dp = &dpreatt(row, 0);
    // datt[t2] = dout_t . v_t2, then the softmax backward:
    // dpreatt[t2] = att[t2] * (datt[t2] - sum_t3 att[t3] datt[t3]), times the scale.
    T weighted = 0;
    for (int t2 = 0; t2 <= t; ++t2) {
      const T* v = &qkv(b * Tn + t2, 2 * C + h * HS);
      T dot = 0;
      for (int i = 0; i < HS; ++i) dot += g[i] * v[i];
      dp[t2] = dot;
      weighted += a[t2] * dot;
    }
    for (int t2 = 0; t2 <= t; ++t2) dp[t2] = a[t2] * (dp[t2] - weighted) * scale;
    T* dq = &dqkv(b * Tn + t, h * HS);
    for (int i = 0; i < HS; ++i) dq[i] = 0;
    for (int t2 = 0; t2 <= t; ++t2) {
      const T* k = &qkv(b * Tn + t2, C + h * HS);
      for (int i = 0; i < HS; ++i) dq[i] += dp[t2] * k[i];
    }
  });
  Kokkos::parallel_for("attention_backward_key_value", RangePolicy(0, s.B * NH * Tn), KOKKOS_LAMBDA(const int row) {
    const int t2 = row % Tn, h = (row / Tn) % NH, b = row / (Tn * NH);
    const int base = (b * NH + h) * Tn;  // row of att/dpreatt for query t is base + t
    T* dk = &dqkv(b * Tn + t2, C + h * HS);
    T* dv = &dqkv(b * Tn + t2, 2 * C + h * HS);
    for (int i = 0; i < HS; ++i) dk[i] = dv[i] = 0;
    for (int t = t2; t < Tn; ++t) {
      const T dp = dpreatt(base + t, t2), a = att(base + t, t2);
      const T* q = &qkv(b * Tn + t, h * HS);
      const T* g = &dout(b * Tn + t, h * HS);
      for (int i = 0; i < HS; ++i) {
        dk[i] += dp * q[i];
        dv[i] += a * g[i];
      }
    }
  });
}

}  // namespace sk
