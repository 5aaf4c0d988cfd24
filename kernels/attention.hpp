// Causal multi-head self-attention on the packed q, k, v of c_attn.
//
// qkv [B*T, 3C]: q at columns [0, C), k at [C, 2C), v at [2C, 3C); head h uses
// columns h*HS .. h*HS+HS-1 of each.
// out [B*T, C]: out[b*T+t, h*HS+i] = sum_{t2<=t} p_t(t2) * v[b*T+t2, h*HS+i]
//   with p_t = softmax over t2 <= t of s(t, t2) = q_t . k_t2 / sqrt(HS).
// lse [B*NH*T]: lse[(b*NH+h)*T + t] = log sum_{t2<=t} exp(s(t, t2)), kept for
// the backward, which rebuilds p_t(t2) = exp(s(t, t2) - lse) instead of
// storing p: nothing of size T x T is kept, attention memory is O(B*NH*T).
//
// Three implementations of that contract, chosen by backend and memory:
// - GPUs, where the [B*NH, T, T] scores fit kScoresBudgetBytes: strided-batched
//   gemms with softmax kernels between them (kernels/attention_batched.hpp);
// - GPUs otherwise (long contexts): tiled team kernels with online softmax,
//   O(T) memory (kernels/attention_tiled.hpp);
// - host backends (Serial, OpenMP): blocks of BLAS products, one head at a
//   time (kernels/attention_blocked.hpp), several times faster on CPUs,
//   where the team kernels' tile products cannot match the BLAS library.
// All are deterministic; the tests check each on the host.
#pragma once
#include <type_traits>

#include "attention_batched.hpp"
#include "attention_blocked.hpp"
#include "attention_tiled.hpp"
#include "attention_batched_tangent.hpp"
#include "attention_blocked_tangent.hpp"
#include "attention_tangent.hpp"

namespace sk {

constexpr bool kAttentionBlocked = std::is_same<MemSpace, Kokkos::HostSpace>::value;

// The scores and their gradient that the batched path may hold, in bytes.
constexpr std::size_t kScoresBudgetBytes = std::size_t(4) << 30;

// Whether attention of shape s runs as batched gemms: on GPUs, when its
// two [B*NH, T, T] buffers fit the budget.
inline bool attention_batched(AttentionShape s) {
  return !kAttentionBlocked && 2 * std::size_t(s.B) * s.NH * s.T * s.T * sizeof(float) <= kScoresBudgetBytes;
}

// Elements of the scratch buffer that attention_forward and attention_backward take.
inline std::size_t attention_scratch_size(AttentionShape s) {
  if (kAttentionBlocked) return attention_blocked_scratch_size(s);
  return attention_batched(s) ? attention_batched_scratch_size(s) : std::size_t(s.B) * s.NH * s.T;
}

// out [B*T, C] and lse [B*NH*T] are overwritten.
template <class T>
void attention_forward(Tensor2<T> out, Tensor1<T> lse, Tensor1<T> scratch, ConstTensor2<T> qkv, AttentionShape s,
                       const ExecSpace& space = ExecSpace()) {
  if constexpr (kAttentionBlocked)
    attention_forward_blocked<T>(out, lse, scratch, qkv, s, space);
  else if (attention_batched(s))
    attention_forward_batched<T>(out, lse, scratch, qkv, s, space);
  else
    attention_forward_tiled<T>(out, lse, qkv, s, space);
}

// dqkv [B*T, 3C] is overwritten; out and lse are the forward's, dout [B*T, C].
// With p = exp(s - lse), dp(t, t2) = dout_t . v_t2 and delta_t = dout_t . out_t,
// the score gradient is ds(t, t2) = p * (dp - delta_t) / sqrt(HS), and
// dq_t = sum_t2 ds k_t2, dk_t2 = sum_t ds q_t, dv_t2 = sum_t p dout_t.
template <class T>
void attention_backward(Tensor2<T> dqkv, Tensor1<T> scratch, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                        ConstTensor2<T> out, ConstTensor1<T> lse, AttentionShape s, const ExecSpace& space = ExecSpace()) {
  if constexpr (kAttentionBlocked)
    attention_backward_blocked<T>(dqkv, scratch, dout, qkv, out, lse, s, space);
  else if (attention_batched(s))
    attention_backward_batched<T>(dqkv, scratch, dout, qkv, out, lse, s, space);
  else
    attention_backward_tiled<T>(dqkv, scratch, dout, qkv, out, lse, s, space);
}

// The tangents (the R-operator, for Hessian-vector products), chosen as
// attention itself is: BLAS blocks on host backends
// (kernels/attention_blocked_tangent.hpp); on GPUs batched gemms where their
// four [B*NH, T, T] buffers fit the budget (kernels/attention_batched_tangent.hpp),
// row kernels with O(T) memory otherwise (kernels/attention_tangent.hpp, with
// the formulas per element).
inline bool attention_batched_tangent(AttentionShape s) {
  return !kAttentionBlocked && 4 * std::size_t(s.B) * s.NH * s.T * s.T * sizeof(float) <= kScoresBudgetBytes;
}

// Elements of the scratch that attention_forward_tangent and attention_backward_tangent take.
inline std::size_t attention_tangent_scratch_size(AttentionShape s) {
  if (kAttentionBlocked) return attention_blocked_tangent_scratch_size(s);
  return attention_batched_tangent(s) ? attention_batched_tangent_scratch_size(s)
                                      : attention_rows_tangent_scratch_size(s);
}

// out_dot [B*T, C] = R{out} and lse_dot [B*NH*T] = R{lse} are overwritten;
// qkv and lse are the forward's, qkv_dot [B*T, 3C] the tangent of qkv.
template <class T>
void attention_forward_tangent(Tensor2<T> out_dot, Tensor1<T> lse_dot, Tensor1<T> scratch, ConstTensor2<T> qkv,
                               ConstTensor2<T> qkv_dot, ConstTensor1<T> lse, AttentionShape s,
                               const ExecSpace& space = ExecSpace()) {
  if constexpr (kAttentionBlocked)
    attention_forward_tangent_blocked<T>(out_dot, lse_dot, scratch, qkv, qkv_dot, lse, s, space);
  else if (attention_batched_tangent(s))
    attention_forward_tangent_batched<T>(out_dot, lse_dot, scratch, qkv, qkv_dot, lse, s, space);
  else
    attention_forward_tangent_rows<T>(out_dot, lse_dot, qkv, qkv_dot, lse, s, space);
}

// rdqkv [B*T, 3C] is overwritten with R{dqkv}; dout, rdout [B*T, C] are the
// upstream gradient and its tangent; out, lse the forward's, out_dot, lse_dot
// attention_forward_tangent's.
template <class T>
void attention_backward_tangent(Tensor2<T> rdqkv, Tensor1<T> scratch, ConstTensor2<T> dout, ConstTensor2<T> rdout,
                                ConstTensor2<T> qkv, ConstTensor2<T> qkv_dot, ConstTensor2<T> out,
                                ConstTensor2<T> out_dot, ConstTensor1<T> lse, ConstTensor1<T> lse_dot,
                                AttentionShape s, const ExecSpace& space = ExecSpace()) {
  if constexpr (kAttentionBlocked)
    attention_backward_tangent_blocked<T>(rdqkv, scratch, dout, rdout, qkv, qkv_dot, out, out_dot, lse, lse_dot, s,
                                          space);
  else if (attention_batched_tangent(s))
    attention_backward_tangent_batched<T>(rdqkv, scratch, dout, rdout, qkv, qkv_dot, out, out_dot, lse, lse_dot, s,
                                          space);
  else
    attention_backward_tangent_rows<T>(rdqkv, scratch, dout, rdout, qkv, qkv_dot, out, out_dot, lse, lse_dot, s,
                                       space);
}

}  // namespace sk
