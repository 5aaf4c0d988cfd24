// Causal attention on host backends as blocks of BLAS products: one (batch,
// head) at a time, its q, k, v gathered into contiguous [T, HS] buffers, and
// query rows taken kBlockRows at a time against the keys they see. The scores
// of one block, [kBlockRows, T], are the largest thing held: memory is
// O(T * (HS + kBlockRows)), independent of B and NH, never T x T.
//
// Why BLAS here: on CPUs the products (7 * T^2/2 * HS multiply-adds per head
// over forward and backward) are most of attention's work, and the BLAS
// library runs them vectorised on every core it has, several times faster
// than the team kernels' tile products. The softmax and the score gradient
// are Kokkos kernels over rows. Same bits on every run: the library splits
// rows and columns among its threads, never a sum, and the key gradients add
// the query blocks in ascending order.
#pragma once
#include "attention_shape.hpp"
#include "fast_math.hpp"

namespace sk {
namespace attention_blocked_detail {

constexpr int kBlockRows = 128;  // query rows per block of products

// Per-head buffers, carved from the caller's scratch: q, k, v and dout (the
// forward keeps its output there) [T, HS]; dq, dk, dv [T, HS] (backward);
// delta [T] (backward); scores and their gradient [kBlockRows, T].
template <class T>
struct HeadBuffers {
  T *q, *k, *v, *g, *dq, *dk, *dv, *delta, *s, *ds;
  static std::size_t size(AttentionShape sh) {
    return 7 * std::size_t(sh.T) * sh.HS + sh.T + 2 * std::size_t(kBlockRows) * sh.T;
  }
  HeadBuffers(T* mem, AttentionShape sh) {
    const std::size_t head = std::size_t(sh.T) * sh.HS;
    q = mem, k = q + head, v = k + head, g = v + head, dq = g + head, dk = dq + head, dv = dk + head;
    delta = dv + head, s = delta + sh.T, ds = s + std::size_t(kBlockRows) * sh.T;
  }
};

// Rows [r0, r0+n) of a [T, HS] head buffer, as a matrix.
template <class T>
Tensor2<T> rows(T* head, int r0, int n, int HS) {
  return Tensor2<T>(head + std::size_t(r0) * HS, n, HS);
}

// c (+)= op(a) . op(b) through KokkosBlas (the BLAS library on host backends).
template <class T>
void product(const char* ta, const char* tb, Tensor2<T> a, Tensor2<T> b, T beta, Tensor2<T> c,
             const ExecSpace& space) {
  kblas::gemm(space, ta, tb, T(1), ConstTensor2<T>(a), ConstTensor2<T>(b), beta, c);
}

// q, k, v [T, HS] of head (b, h) from qkv [B*T, 3C] (or their tangents).
template <class T>
void gather_qkv(T* q, T* k, T* v, ConstTensor2<T> qkv, AttentionShape sh, int b, int h, const ExecSpace& space) {
  const int Tn = sh.T, HS = sh.HS, C = sh.NH * HS;
  Kokkos::parallel_for("attention_gather", RangePolicy(space, 0, Tn), KOKKOS_LAMBDA(const int t) {
    const T* row = &qkv(b * Tn + t, h * HS);
    for (int i = 0; i < HS; ++i) {
      q[t * HS + i] = row[i];
      k[t * HS + i] = row[C + i];
      v[t * HS + i] = row[2 * C + i];
    }
  });
}

// The inverse for gradients: dqkv [B*T, 3C]'s columns of head (b, h) from
// dq, dk, dv [T, HS].
template <class T>
void scatter_qkv(const char* label, Tensor2<T> dqkv, const T* dq, const T* dk, const T* dv, AttentionShape sh, int b,
                 int h, const ExecSpace& space) {
  const int Tn = sh.T, HS = sh.HS, C = sh.NH * HS;
  Kokkos::parallel_for(label, RangePolicy(space, 0, Tn), KOKKOS_LAMBDA(const int t) {
    T* row = &dqkv(b * Tn + t, h * HS);
    for (int i = 0; i < HS; ++i) {
      row[i] = dq[t * HS + i];
      row[C + i] = dk[t * HS + i];
      row[2 * C + i] = dv[t * HS + i];
    }
  });
}

}  // namespace attention_blocked_detail

// Elements of scratch attention_forward_blocked and attention_backward_blocked need.
inline std::size_t attention_blocked_scratch_size(AttentionShape s) {
  return attention_blocked_detail::HeadBuffers<float>::size(s);
}

// Same contract as attention_forward (kernels/attention.hpp); scratch holds
// attention_blocked_scratch_size(s) elements.
template <class T>
void attention_forward_blocked(Tensor2<T> out, Tensor1<T> lse, Tensor1<T> scratch, ConstTensor2<T> qkv,
                               AttentionShape sh, const ExecSpace& space = ExecSpace()) {
  using namespace attention_blocked_detail;
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const HeadBuffers<T> hb(scratch.data(), sh);
  for (int b = 0; b < sh.B; ++b)
    for (int h = 0; h < NH; ++h) {
      gather_qkv(hb.q, hb.k, hb.v, qkv, sh, b, h, space);
      T* lse_h = lse.data() + std::size_t(b * NH + h) * Tn;
      for (int q0 = 0; q0 < Tn; q0 += kBlockRows) {
        const int nq = Tn - q0 < kBlockRows ? Tn - q0 : kBlockRows, nk = q0 + nq;  // keys 0 .. q0+nq-1
        const Tensor2<T> s(hb.s, nq, nk);
        product("N", "T", rows(hb.q, q0, nq, HS), rows(hb.k, 0, nk, HS), T(0), s, space);
        // Row r (query q0+r) sees keys 0 .. q0+r: softmax there, 0 beyond.
        Kokkos::parallel_for("attention_softmax", RangePolicy(space, 0, nq), KOKKOS_LAMBDA(const int r) {
          T* p = &s(r, 0);
          const int n = q0 + r + 1;
          T m = p[0] * scale;
          for (int c = 1; c < n; ++c) m = p[c] * scale > m ? p[c] * scale : m;
          T sum = 0;
          for (int c = 0; c < n; ++c) sum += (p[c] = fast_exp(p[c] * scale - m));
          const T inv = T(1) / sum;
          for (int c = 0; c < nk; ++c) p[c] = c < n ? p[c] * inv : T(0);
          lse_h[q0 + r] = m + kmath::log(sum);
        });
        product("N", "N", s, rows(hb.v, 0, nk, HS), T(0), rows(hb.g, q0, nq, HS), space);
      }
      const T* o = hb.g;
      Kokkos::parallel_for("attention_scatter", RangePolicy(space, 0, Tn), KOKKOS_LAMBDA(const int t) {
        T* row = &out(b * Tn + t, h * HS);
        for (int i = 0; i < HS; ++i) row[i] = o[t * HS + i];
      });
    }
}

// Same contract as attention_backward (kernels/attention.hpp); scratch holds
// attention_blocked_scratch_size(s) elements.
template <class T>
void attention_backward_blocked(Tensor2<T> dqkv, Tensor1<T> scratch, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                                ConstTensor2<T> out, ConstTensor1<T> lse, AttentionShape sh,
                                const ExecSpace& space = ExecSpace()) {
  using namespace attention_blocked_detail;
  const int Tn = sh.T, NH = sh.NH, HS = sh.HS;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const HeadBuffers<T> hb(scratch.data(), sh);
  for (int b = 0; b < sh.B; ++b)
    for (int h = 0; h < NH; ++h) {
      gather_qkv(hb.q, hb.k, hb.v, qkv, sh, b, h, space);
      T *g = hb.g, *delta = hb.delta, *dk_h = hb.dk, *dv_h = hb.dv;
      // dout of this head, delta_t = dout_t . out_t (= sum_t2 p dp), and dk,
      // dv zeroed: the query blocks add to them.
      Kokkos::parallel_for("attention_backward_gather", RangePolicy(space, 0, Tn), KOKKOS_LAMBDA(const int t) {
        T dot = 0;
        for (int i = 0; i < HS; ++i) {
          g[t * HS + i] = dout(b * Tn + t, h * HS + i);
          dot += dout(b * Tn + t, h * HS + i) * out(b * Tn + t, h * HS + i);
          dk_h[t * HS + i] = 0;
          dv_h[t * HS + i] = 0;
        }
        delta[t] = dot;
      });
      const T* lse_h = lse.data() + std::size_t(b * NH + h) * Tn;
      for (int q0 = 0; q0 < Tn; q0 += kBlockRows) {
        const int nq = Tn - q0 < kBlockRows ? Tn - q0 : kBlockRows, nk = q0 + nq;
        const Tensor2<T> p(hb.s, nq, nk), ds(hb.ds, nq, nk);
        const Tensor2<T> q = rows(hb.q, q0, nq, HS), gq = rows(hb.g, q0, nq, HS);
        // p = exp(s - lse) where the query sees the key, else 0; dp = dout . v^T.
        product("N", "T", q, rows(hb.k, 0, nk, HS), T(0), p, space);
        product("N", "T", gq, rows(hb.v, 0, nk, HS), T(0), ds, space);
        Kokkos::parallel_for("attention_backward_scores", RangePolicy(space, 0, nq), KOKKOS_LAMBDA(const int r) {
          const int n = q0 + r + 1;
          const T l = lse_h[q0 + r], d = delta[q0 + r];
          for (int c = 0; c < nk; ++c) {
            const T e = c < n ? fast_exp(p(r, c) * scale - l) : T(0);
            p(r, c) = e;
            ds(r, c) = e * (ds(r, c) - d) * scale;
          }
        });
        // dv += p^T . dout, dk += ds^T . q over the keys this block sees, the
        // blocks in ascending order.
        product("T", "N", p, gq, T(1), rows(hb.dv, 0, nk, HS), space);
        product("T", "N", ds, q, T(1), rows(hb.dk, 0, nk, HS), space);
        product("N", "N", ds, rows(hb.k, 0, nk, HS), T(0), rows(hb.dq, q0, nq, HS), space);
      }
      scatter_qkv("attention_backward_scatter", dqkv, hb.dq, hb.dk, hb.dv, sh, b, h, space);
    }
}

}  // namespace sk
