// Optimizer updates over a contiguous run of the flat parameter buffer. The
// training loop calls them once per run of tensors that share a weight decay
// (decay applies to matmul weights and embeddings, not to biases or LayerNorm).
// Each coordinate is independent, so every kernel is a plain parallel_for.
#pragma once
#include <cmath>

#include "reduction.hpp"
#include "views.hpp"

namespace sk {

// AdamW with bias correction and decoupled weight decay (Loshchilov & Hutter).
template <class T>
struct AdamWStep {
  T lr, beta1, beta2, eps, weight_decay;
  int step;            // 1 for the first update: bias correction uses beta^step
  T grad_scale = 1;    // folds gradient-norm clipping into the update
};

// m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
// p = p (1 - lr wd) - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
template <class T>
void adamw_update(Tensor1<T> param, ConstTensor1<T> grad, Tensor1<T> m, Tensor1<T> v, AdamWStep<T> s) {
  // The bias corrections folded into two constants: one division and one
  // square root per coordinate.
  const T step_size = s.lr / (T(1) - std::pow(s.beta1, T(s.step)));
  const T inv_sqrt_c2 = T(1) / std::sqrt(T(1) - std::pow(s.beta2, T(s.step)));
  Kokkos::parallel_for("adamw_update", RangePolicy(0, param.extent(0)), KOKKOS_LAMBDA(const int i) {
    const T g = grad(i) * s.grad_scale;
    const T mi = s.beta1 * m(i) + (T(1) - s.beta1) * g;
    const T vi = s.beta2 * v(i) + (T(1) - s.beta2) * g * g;
    m(i) = mi;
    v(i) = vi;
    param(i) = param(i) * (T(1) - s.lr * s.weight_decay) - step_size * mi / (kmath::sqrt(vi) * inv_sqrt_c2 + s.eps);
  });
}

// Sophia-G (Liu et al. 2023): a clipped, Hessian-preconditioned sign-momentum step.
template <class T>
struct SophiaStep {
  T lr, beta1, rho, weight_decay;
  T tokens;            // N: tokens in one optimizer step over all ranks and micro-batches
  T grad_scale = 1;    // folds gradient-norm clipping into the update
  T eps = T(1e-15);
};

// m = b1 m + (1-b1) g;  p = p (1 - lr wd);
// p = p - lr sign(m) min(|m| / (rho N h + eps), 1)
// Returns how many coordinates were clipped (their ratio reached 1).
template <class T>
long sophia_update(Tensor1<T> param, ConstTensor1<T> grad, Tensor1<T> m, ConstTensor1<T> h, SophiaStep<T> s) {
  long clipped = 0;
  Kokkos::parallel_reduce("sophia_update", RangePolicy(0, param.extent(0)), KOKKOS_LAMBDA(const int i, long& n) {
    const T mi = s.beta1 * m(i) + (T(1) - s.beta1) * grad(i) * s.grad_scale;
    m(i) = mi;
    const T ratio = kmath::fabs(mi) / (s.rho * s.tokens * h(i) + s.eps);
    // Branch-free on purpose: signs and clipping are random per coordinate,
    // and mispredicted branches made this kernel five times slower on CPUs.
    const T step = ratio < T(1) ? ratio : T(1);  // a min instruction, not a branch
    n += ratio >= T(1);
    const T sign = T((mi > T(0)) - (mi < T(0)));
    param(i) = param(i) * (T(1) - s.lr * s.weight_decay) - s.lr * sign * step;
  }, clipped);
  return clipped;
}

// The Gauss-Newton-Bartlett refresh of Sophia-G's diagonal Hessian estimate:
// h = b2 h + (1-b2) ghat^2, with ghat the (clipped, rank-averaged) gradient of
// the loss against labels sampled from the model itself.
template <class T>
void sophia_hessian_update(Tensor1<T> h, ConstTensor1<T> ghat, T beta2, T ghat_scale = 1) {
  Kokkos::parallel_for("sophia_hessian_update", RangePolicy(0, h.extent(0)), KOKKOS_LAMBDA(const int i) {
    const T g = ghat(i) * ghat_scale;
    h(i) = beta2 * h(i) + (T(1) - beta2) * g * g;
  });
}

// sum(x^2) and sum(|x|) over a buffer (gradient-norm clipping, Hessian
// diagnostics), in a fixed order (kernels/reduction.hpp).
template <class T>
double sum_of_squares(ConstTensor1<T> x) {
  return blocked_sum<T>("sum_of_squares", x, KOKKOS_LAMBDA(T v) { return v * v; });
}

template <class T>
double sum_of_abs(ConstTensor1<T> x) {
  return blocked_sum<T>("sum_of_abs", x, KOKKOS_LAMBDA(T v) { return kmath::fabs(v); });
}

}  // namespace sk
