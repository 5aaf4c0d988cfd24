// Optimizer updates over a contiguous run of the flat parameter buffer. The
// optimizers (src/train/optimizer.cpp) call them once per run of tensors that
// share a weight decay (matmul weights and embeddings decay; biases and
// LayerNorm do not), cut to the rank's partition under ZeRO-1.
// Each coordinate is independent, so every kernel is a plain parallel_for.
// The gradient's scale (averaging and clipping) is a device scalar written by
// clip_scale, so a step never waits for the host between its kernels.
#pragma once
#include <cmath>

#include "reduction.hpp"
#include "views.hpp"

namespace sk {

// A value on the device, written by one kernel and read by the next.
template <class T>
using Scalar = Kokkos::View<T, MemSpace>;

// AdamW with bias correction and decoupled weight decay (Loshchilov & Hutter).
template <class T>
struct AdamWStep {
  T lr, beta1, beta2, eps, weight_decay;
  int step;            // 1 for the first update: bias correction uses beta^step
};

// g = grad * grad_scale;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
// p = p (1 - lr wd) - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
template <class T>
void adamw_update(Tensor1<T> param, ConstTensor1<T> grad, Tensor1<T> m, Tensor1<T> v, AdamWStep<T> s,
                  Scalar<const double> grad_scale, const ExecSpace& space = ExecSpace()) {
  // The bias corrections folded into two constants: one division and one
  // square root per coordinate.
  const T step_size = s.lr / (T(1) - std::pow(s.beta1, T(s.step)));
  const T inv_sqrt_c2 = T(1) / std::sqrt(T(1) - std::pow(s.beta2, T(s.step)));
  Kokkos::parallel_for("adamw_update", RangePolicy(space, 0, param.extent(0)), KOKKOS_LAMBDA(const int i) {
    const T g = grad(i) * T(grad_scale());
    const T mi = s.beta1 * m(i) + (T(1) - s.beta1) * g;
    const T vi = s.beta2 * v(i) + (T(1) - s.beta2) * g * g;
    m(i) = mi;
    v(i) = vi;
    param(i) = param(i) * (T(1) - s.lr * s.weight_decay) - step_size * mi / (kmath::sqrt(vi) * inv_sqrt_c2 + s.eps);
  });
}

// Sophia (Liu et al. 2023): a clipped, Hessian-preconditioned sign-momentum
// step; Sophia-G's h estimates the Hessian's diagonal times 1/N, Sophia-H's
// the diagonal itself (tokens = 1).
template <class T>
struct SophiaStep {
  T lr, beta1, rho, weight_decay;
  T tokens;            // N: tokens in one optimizer step over all ranks and micro-batches
  T eps = T(1e-15);
};

// g = grad * grad_scale;  m = b1 m + (1-b1) g;  p = p (1 - lr wd);
// p = p - lr sign(m) min(|m| / (max(rho N h, 0) + eps), 1)
// Hutchinson's h may be negative (negative curvature along a coordinate):
// that coordinate takes the clipped step lr sign(m), as where h is 0.
// clipped() = how many coordinates were clipped (their ratio reached 1).
template <class T>
void sophia_update(Tensor1<T> param, ConstTensor1<T> grad, Tensor1<T> m, ConstTensor1<T> h, SophiaStep<T> s,
                   Scalar<const double> grad_scale, Scalar<long> clipped, const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_reduce("sophia_update", RangePolicy(space, 0, param.extent(0)), KOKKOS_LAMBDA(const int i, long& n) {
    const T mi = s.beta1 * m(i) + (T(1) - s.beta1) * grad(i) * T(grad_scale());
    m(i) = mi;
    const T curvature = s.rho * s.tokens * h(i);
    const T ratio = kmath::fabs(mi) / ((curvature > T(0) ? curvature : T(0)) + s.eps);
    // Branch-free on purpose: signs and clipping are random per coordinate,
    // and mispredicted branches made this kernel five times slower on CPUs.
    const T step = ratio < T(1) ? ratio : T(1);  // a min instruction, not a branch
    n += ratio >= T(1);
    const T sign = T((mi > T(0)) - (mi < T(0)));
    param(i) = param(i) * (T(1) - s.lr * s.weight_decay) - s.lr * sign * step;
  }, clipped);
}

// total() = the sum of counts (sophia_update's clip counts of several runs).
inline void add_counts(Kokkos::View<const long*, MemSpace> counts, Scalar<double> total, const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_for("add_counts", RangePolicy(space, 0, 1), KOKKOS_LAMBDA(const int) {
    long n = 0;
    for (std::size_t i = 0; i < counts.extent(0); ++i) n += counts(i);
    total() = double(n);
  });
}

// The Gauss-Newton-Bartlett refresh of Sophia-G's diagonal Hessian estimate:
// h = b2 h + (1-b2) ghat^2, with ghat the (clipped, rank-averaged) gradient of
// the loss against labels sampled from the model itself.
template <class T>
void sophia_hessian_update(Tensor1<T> h, ConstTensor1<T> ghat, T beta2, Scalar<const double> ghat_scale,
                           const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_for("sophia_hessian_update", RangePolicy(space, 0, h.extent(0)), KOKKOS_LAMBDA(const int i) {
    const T g = ghat(i) * T(ghat_scale());
    h(i) = beta2 * h(i) + (T(1) - beta2) * g * g;
  });
}

// Hutchinson's refresh of Sophia-H's diagonal Hessian estimate:
// h = b2 h + (1-b2) u * (hu * hu_scale), with u the probe and hu the sum of
// H u over micro-batches and ranks (hu_scale turns it into the mean).
template <class T>
void sophia_hutchinson_update(Tensor1<T> h, ConstTensor1<T> u, ConstTensor1<T> hu, T beta2,
                              Scalar<const double> hu_scale, const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_for("sophia_hutchinson_update", RangePolicy(space, 0, h.extent(0)), KOKKOS_LAMBDA(const int i) {
    h(i) = beta2 * h(i) + (T(1) - beta2) * u(i) * (hu(i) * T(hu_scale()));
  });
}

// The gradient's norm and scale from the sum of its squares over every rank
// (gradients summed over `sums` micro-batches and ranks, clipped to `clip`,
// 0: off): norm = sqrt(squares) / sums, scale = min(1, clip / norm) / sums.
inline void clip_scale(Scalar<const double> squares, double sums, double clip, Scalar<double> norm,
                       Scalar<double> scale, const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_for("clip_scale", RangePolicy(space, 0, 1), KOKKOS_LAMBDA(const int) {
    const double n = kmath::sqrt(squares()) / sums;
    norm() = n;
    scale() = (clip > 0 && n > clip ? clip / n : 1.0) / sums;
  });
}

}  // namespace sk
