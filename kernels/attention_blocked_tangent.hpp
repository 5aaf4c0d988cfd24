// Tangents (the R-operator) of causal attention on host backends, as blocks of
// BLAS products like attention_blocked.hpp: one (batch, head) at a time, its
// q, k, v and their tangents gathered into contiguous [T, HS] buffers, query
// rows kBlockRows at a time against the keys they see. The formulas are the
// ones at the top of attention_tangent.hpp, in matrix form for a block:
//   P = exp(Q K^T scale - lse),  R{S} = Qd K^T + Q Kd^T,  R{P} = P (R{S} scale - m)
//   R{out} = R{P} V + P Vd
//   dP = G V^T,  R{dP} = Gd V^T + G Vd^T,  dS = P (dP - delta) scale
//   R{dS} = (R{P} (dP - delta) + P (R{dP} - R{delta})) scale
//   R{dq} = R{dS} K + dS Kd,  R{dk} += R{dS}^T Q + dS^T Qd,  R{dv} += R{P}^T G + P^T Gd
// Memory: four [kBlockRows, T] score blocks and eleven [T, HS] head buffers,
// never T x T. Same bits on every run: the row kernels add in a fixed order,
// the library splits no sum among threads, and the key rows add the query
// blocks in ascending order.
#pragma once
#include "attention_blocked.hpp"

namespace sk {
namespace attention_blocked_tangent_detail {

using attention_blocked_detail::gather_qkv;
using attention_blocked_detail::kBlockRows;
using attention_blocked_detail::product;
using attention_blocked_detail::rows;
using attention_blocked_detail::scatter_qkv;

// Per-head buffers from the caller's scratch: q, k, v and their tangents qd,
// kd, vd; g, gd (dout and its tangent; the forward keeps R{out} in g);
// rdq, rdk, rdv [T, HS]; delta, R{delta} [T]; four [kBlockRows, T] blocks:
// p, R{p}, then ds and R{ds} (dp and R{dp} before the row kernel).
template <class T>
struct TangentBuffers {
  T *q, *k, *v, *qd, *kd, *vd, *g, *gd, *rdq, *rdk, *rdv, *delta, *delta_dot, *p, *pd, *ds, *dsd;
  static std::size_t size(AttentionShape sh) {
    return 11 * std::size_t(sh.T) * sh.HS + 2 * std::size_t(sh.T) + 4 * std::size_t(kBlockRows) * sh.T;
  }
  TangentBuffers(T* mem, AttentionShape sh) {
    const std::size_t head = std::size_t(sh.T) * sh.HS, block = std::size_t(kBlockRows) * sh.T;
    q = mem, k = q + head, v = k + head, qd = v + head, kd = qd + head, vd = kd + head, g = vd + head;
    gd = g + head, rdq = gd + head, rdk = rdq + head, rdv = rdk + head, delta = rdv + head;
    delta_dot = delta + sh.T, p = delta_dot + sh.T, pd = p + block, ds = pd + block, dsd = ds + block;
  }
};

// q, k, v and their tangents of head (b, h) into the buffers.
template <class T>
void gather_head(const TangentBuffers<T>& tb, ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot, AttentionShape sh, int b,
                 int h, const ExecSpace& space) {
  gather_qkv(tb.q, tb.k, tb.v, qkv, sh, b, h, space);
  gather_qkv(tb.qd, tb.kd, tb.vd, qkv_dot, sh, b, h, space);
}

// P and R{S} of query rows [q0, q0+nq) against keys [0, nk): p = Q K^T and
// pd = Qd K^T + Q Kd^T, still raw scores (the row kernels exponentiate).
template <class T>
void scores_and_tangent(const TangentBuffers<T>& tb, Tensor2<T> p, Tensor2<T> pd, int q0, int nq, int nk, int HS,
                        const ExecSpace& space) {
  product("N", "T", rows(tb.q, q0, nq, HS), rows(tb.k, 0, nk, HS), T(0), p, space);
  product("N", "T", rows(tb.qd, q0, nq, HS), rows(tb.k, 0, nk, HS), T(0), pd, space);
  product("N", "T", rows(tb.q, q0, nq, HS), rows(tb.kd, 0, nk, HS), T(1), pd, space);
}

}  // namespace attention_blocked_tangent_detail

// Elements of scratch the blocked tangents need.
inline std::size_t attention_blocked_tangent_scratch_size(AttentionShape s) {
  return attention_blocked_tangent_detail::TangentBuffers<float>::size(s);
}

// Same contract as attention_forward_tangent (kernels/attention.hpp).
template <class T>
void attention_forward_tangent_blocked(Tensor2<T> out_dot, Tensor1<T> lse_dot, Tensor1<T> scratch,
                                       ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot, ConstTensor1<T> lse,
                                       AttentionShape sh, const ExecSpace& space = ExecSpace()) {
  using namespace attention_blocked_tangent_detail;
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const TangentBuffers<T> tb(scratch.data(), sh);
  for (int b = 0; b < sh.B; ++b)
    for (int h = 0; h < NH; ++h) {
      gather_head(tb, qkv, qkv_dot, sh, b, h, space);
      const T* lse_h = lse.data() + std::size_t(b * NH + h) * Tn;
      T* lse_dot_h = lse_dot.data() + std::size_t(b * NH + h) * Tn;
      for (int q0 = 0; q0 < Tn; q0 += kBlockRows) {
        const int nq = Tn - q0 < kBlockRows ? Tn - q0 : kBlockRows, nk = q0 + nq;
        const Tensor2<T> p(tb.p, nq, nk), pd(tb.pd, nq, nk);
        scores_and_tangent(tb, p, pd, q0, nq, nk, HS, space);
        // Row r (query q0+r) sees keys 0 .. q0+r. m = R{lse} = sum p R{S} scale.
        Kokkos::parallel_for("attention_forward_tangent_rows", RangePolicy(space, 0, nq), KOKKOS_LAMBDA(const int r) {
          const int n = q0 + r + 1;
          const T l = lse_h[q0 + r];
          T m = 0;
          for (int c = 0; c < nk; ++c) {
            p(r, c) = c < n ? fast_exp(p(r, c) * scale - l) : T(0);
            m += p(r, c) * pd(r, c) * scale;
          }
          for (int c = 0; c < nk; ++c) pd(r, c) = p(r, c) * (pd(r, c) * scale - m);
          lse_dot_h[q0 + r] = m;
        });
        product("N", "N", pd, rows(tb.v, 0, nk, HS), T(0), rows(tb.g, q0, nq, HS), space);
        product("N", "N", p, rows(tb.vd, 0, nk, HS), T(1), rows(tb.g, q0, nq, HS), space);
      }
      const T* od = tb.g;
      Kokkos::parallel_for("attention_tangent_scatter", RangePolicy(space, 0, Tn), KOKKOS_LAMBDA(const int t) {
        T* row = &out_dot(b * Tn + t, h * HS);
        for (int i = 0; i < HS; ++i) row[i] = od[t * HS + i];
      });
    }
}

// Same contract as attention_backward_tangent (kernels/attention.hpp).
template <class T>
void attention_backward_tangent_blocked(Tensor2<T> rdqkv, Tensor1<T> scratch, ConstTensor2<T> dout,
                                        ConstTensor2<T> rdout, ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot,
                                        ConstTensor2<T> out, ConstTensor2<T> out_dot, ConstTensor1<T> lse,
                                        ConstTensor1<T> lse_dot, AttentionShape sh,
                                        const ExecSpace& space = ExecSpace()) {
  using namespace attention_blocked_tangent_detail;
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const TangentBuffers<T> tb(scratch.data(), sh);
  for (int b = 0; b < sh.B; ++b)
    for (int h = 0; h < NH; ++h) {
      gather_head(tb, qkv, qkv_dot, sh, b, h, space);
      // dout and its tangent for this head, delta_t = dout_t . out_t and its
      // tangent, and R{dk}, R{dv} zeroed: the query blocks add to them.
      T *g = tb.g, *gd = tb.gd, *delta = tb.delta, *delta_dot = tb.delta_dot, *rdk = tb.rdk, *rdv = tb.rdv;
      Kokkos::parallel_for("attention_backward_tangent_gather", RangePolicy(space, 0, Tn), KOKKOS_LAMBDA(const int t) {
        const int row = b * Tn + t, col = h * HS;
        T d = 0, dd = 0;
        for (int i = 0; i < HS; ++i) {
          g[t * HS + i] = dout(row, col + i);
          gd[t * HS + i] = rdout(row, col + i);
          d += dout(row, col + i) * out(row, col + i);
          dd += rdout(row, col + i) * out(row, col + i) + dout(row, col + i) * out_dot(row, col + i);
          rdk[t * HS + i] = 0;
          rdv[t * HS + i] = 0;
        }
        delta[t] = d;
        delta_dot[t] = dd;
      });
      const T* lse_h = lse.data() + std::size_t(b * NH + h) * Tn;
      const T* lse_dot_h = lse_dot.data() + std::size_t(b * NH + h) * Tn;
      for (int q0 = 0; q0 < Tn; q0 += kBlockRows) {
        const int nq = Tn - q0 < kBlockRows ? Tn - q0 : kBlockRows, nk = q0 + nq;
        const Tensor2<T> p(tb.p, nq, nk), pd(tb.pd, nq, nk), ds(tb.ds, nq, nk), dsd(tb.dsd, nq, nk);
        const Tensor2<T> gq = rows(tb.g, q0, nq, HS), gdq = rows(tb.gd, q0, nq, HS);
        scores_and_tangent(tb, p, pd, q0, nq, nk, HS, space);
        product("N", "T", gq, rows(tb.v, 0, nk, HS), T(0), ds, space);
        product("N", "T", gdq, rows(tb.v, 0, nk, HS), T(0), dsd, space);
        product("N", "T", gq, rows(tb.vd, 0, nk, HS), T(1), dsd, space);
        Kokkos::parallel_for("attention_backward_tangent_rows", RangePolicy(space, 0, nq), KOKKOS_LAMBDA(const int r) {
          const int n = q0 + r + 1, t = q0 + r;
          const T l = lse_h[t], m = lse_dot_h[t], d = delta[t], dd = delta_dot[t];
          for (int c = 0; c < nk; ++c) {
            const T e = c < n ? fast_exp(p(r, c) * scale - l) : T(0);
            const T ed = e * (pd(r, c) * scale - m), dp = ds(r, c) - d;
            p(r, c) = e;
            pd(r, c) = ed;
            ds(r, c) = e * dp * scale;
            dsd(r, c) = (ed * dp + e * (dsd(r, c) - dd)) * scale;
          }
        });
        product("N", "N", dsd, rows(tb.k, 0, nk, HS), T(0), rows(tb.rdq, q0, nq, HS), space);
        product("N", "N", ds, rows(tb.kd, 0, nk, HS), T(1), rows(tb.rdq, q0, nq, HS), space);
        product("T", "N", dsd, rows(tb.q, q0, nq, HS), T(1), rows(tb.rdk, 0, nk, HS), space);
        product("T", "N", ds, rows(tb.qd, q0, nq, HS), T(1), rows(tb.rdk, 0, nk, HS), space);
        product("T", "N", pd, gq, T(1), rows(tb.rdv, 0, nk, HS), space);
        product("T", "N", p, gdq, T(1), rows(tb.rdv, 0, nk, HS), space);
      }
      scatter_qkv("attention_backward_tangent_scatter", rdqkv, tb.rdq, tb.rdk, tb.rdv, sh, b, h, space);
    }
}

}  // namespace sk
