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
template <class T>
void attention_forward(Tensor2<T> out, Tensor2<T> att, ConstTensor2<T> qkv, AttentionShape s) {
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  Kokkos::parallel_for("attention_forward", RangePolicy(0, s.B * NH * Tn), KOKKOS_LAMBDA(const int row) {
    const int t = row % Tn, h = (row / Tn) % NH, b = row / (Tn * NH);
    const int qrow = b * Tn + t;
    T maxval = Kokkos::reduction_identity<T>::max();  // the lowest value
    for (int t2 = 0; t2 <= t; ++t2) {
      T dot = 0;
      for (int i = 0; i < HS; ++i) dot += qkv(qrow, h * HS + i) * qkv(b * Tn + t2, C + h * HS + i);
      att(row, t2) = dot * scale;
      maxval = dot * scale > maxval ? dot * scale : maxval;
    }
    T sum = 0;
    for (int t2 = 0; t2 <= t; ++t2) {
      att(row, t2) = kmath::exp(att(row, t2) - maxval);
      sum += att(row, t2);
    }
    for (int t2 = 0; t2 <= t; ++t2) att(row, t2) /= sum;
    for (int t2 = t + 1; t2 < Tn; ++t2) att(row, t2) = 0;
    for (int i = 0; i < HS; ++i) {
      T acc = 0;
      for (int t2 = 0; t2 <= t; ++t2) acc += att(row, t2) * qkv(b * Tn + t2, 2 * C + h * HS + i);
      out(qrow, h * HS + i) = acc;
    }
  });
}

// dqkv [B*T, 3C] is overwritten; dpreatt [B*NH*T, T] is scratch of att's shape.
// Two passes so that every thread owns what it writes: pass 1 (a thread per
// query row) forms the softmax gradient dpreatt and dq; pass 2 (a thread per
// key row t2) gathers dk and dv over the queries t >= t2 that attended to it.
template <class T>
void attention_backward(Tensor2<T> dqkv, Tensor2<T> dpreatt, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                        ConstTensor2<T> att, AttentionShape s) {
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  Kokkos::parallel_for("attention_backward_query", RangePolicy(0, s.B * NH * Tn), KOKKOS_LAMBDA(const int row) {
    const int t = row % Tn, h = (row / Tn) % NH, b = row / (Tn * NH);
    const int qrow = b * Tn + t;
    // datt[t2] = dout_t . v_t2, then the softmax backward:
    // dpreatt[t2] = att[t2] * (datt[t2] - sum_t3 att[t3] datt[t3]), times the scale.
    T weighted = 0;
    for (int t2 = 0; t2 <= t; ++t2) {
      T dot = 0;
      for (int i = 0; i < HS; ++i) dot += dout(qrow, h * HS + i) * qkv(b * Tn + t2, 2 * C + h * HS + i);
      dpreatt(row, t2) = dot;
      weighted += att(row, t2) * dot;
    }
    for (int t2 = 0; t2 <= t; ++t2) dpreatt(row, t2) = att(row, t2) * (dpreatt(row, t2) - weighted) * scale;
    for (int i = 0; i < HS; ++i) {
      T acc = 0;
      for (int t2 = 0; t2 <= t; ++t2) acc += dpreatt(row, t2) * qkv(b * Tn + t2, C + h * HS + i);
      dqkv(qrow, h * HS + i) = acc;
    }
  });
  Kokkos::parallel_for("attention_backward_key_value", RangePolicy(0, s.B * NH * Tn), KOKKOS_LAMBDA(const int row) {
    const int t2 = row % Tn, h = (row / Tn) % NH, b = row / (Tn * NH);
    const int krow = b * Tn + t2;
    const int base = (b * NH + h) * Tn;  // row of att/dpreatt for query t is base + t
    for (int i = 0; i < HS; ++i) {
      T dk = 0, dv = 0;
      for (int t = t2; t < Tn; ++t) {
        dk += dpreatt(base + t, t2) * qkv(b * Tn + t, h * HS + i);
        dv += att(base + t, t2) * dout(b * Tn + t, h * HS + i);
      }
      dqkv(krow, C + h * HS + i) = dk;
      dqkv(krow, 2 * C + h * HS + i) = dv;
    }
  });
}

}  // namespace sk
