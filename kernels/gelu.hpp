// GELU with GPT-2's tanh approximation:
// gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#pragma once
#include "fast_math.hpp"
#include "views.hpp"

namespace sk {

// tanh(u) = 1 - 2 / (1 + exp(2u)): one exp, which vectorises (fast_math.hpp),
// where the library's tanh is a call per element; the form saturates
// correctly at +-1 (exp gives 0 and +inf at the ends).
template <class T>
KOKKOS_INLINE_FUNCTION T gelu_tanh(T u) {
  return T(1) - T(2) / (T(1) + fast_exp(T(2) * u));
}

// out = gelu(inp), both [N, C]
template <class T>
void gelu_forward(Tensor2<T> out, ConstTensor2<T> inp, const ExecSpace& space = ExecSpace()) {
  const auto o = flat(out);
  const auto in = flat(inp);
  Kokkos::parallel_for("gelu_forward", RangePolicy(space, 0, o.extent(0)), KOKKOS_LAMBDA(const int i) {
    const T x = in(i);
    const T s = T(0.7978845608028654);  // sqrt(2/pi)
    o(i) = T(0.5) * x * (T(1) + gelu_tanh(s * (x + T(0.044715) * x * x * x)));
  });
}

// gelu'(x) and gelu''(x), with u = s (x + a x^3), th = tanh(u):
//   gelu'  = 0.5 (1 + th) + 0.5 x (1 - th^2) u'
//   gelu'' = (1 - th^2) (u' + 0.5 x (u'' - 2 th u'^2))
// (d th/dx = (1 - th^2) u', d(1 - th^2)/dx = -2 th (1 - th^2) u'), where
// u' = s (1 + 3 a x^2) and u'' = 6 s a x.
template <class T>
KOKKOS_INLINE_FUNCTION void gelu_derivatives(T x, T& d1, T& d2) {
  const T s = T(0.7978845608028654), a = T(0.044715);  // sqrt(2/pi)
  const T th = gelu_tanh(s * (x + a * x * x * x));
  const T du = s * (T(1) + T(3) * a * x * x), ddu = T(6) * s * a * x;
  const T sech2 = T(1) - th * th;
  d1 = T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * du;
  d2 = sech2 * (du + T(0.5) * x * (ddu - T(2) * th * du * du));
}

// out = gelu'(inp) * vec, all [N, C]: the backward (vec = dout) and the
// forward's tangent (vec = inp_dot) are this product. out may alias vec.
template <class T>
void gelu_derivative_times(const char* label, Tensor2<T> out, ConstTensor2<T> inp, ConstTensor2<T> vec,
                           const ExecSpace& space) {
  const auto o = flat(out);
  const auto in = flat(inp), v = flat(vec);
  Kokkos::parallel_for(label, RangePolicy(space, 0, o.extent(0)), KOKKOS_LAMBDA(const int i) {
    T d1, unused;
    gelu_derivatives(in(i), d1, unused);
    o(i) = d1 * v(i);
  });
}

// dinp = gelu'(inp) * dout, all [N, C]. dinp may alias dout (the backward
// pass does this to save a buffer of the MLP's width).
template <class T>
void gelu_backward(Tensor2<T> dinp, ConstTensor2<T> inp, ConstTensor2<T> dout, const ExecSpace& space = ExecSpace()) {
  gelu_derivative_times<T>("gelu_backward", dinp, inp, dout, space);
}

// Tangent of the forward (the R-operator, for Hessian-vector products):
// out_dot = gelu'(inp) * inp_dot, all [N, C].
template <class T>
void gelu_forward_tangent(Tensor2<T> out_dot, ConstTensor2<T> inp, ConstTensor2<T> inp_dot,
                          const ExecSpace& space = ExecSpace()) {
  gelu_derivative_times<T>("gelu_forward_tangent", out_dot, inp, inp_dot, space);
}

// Tangent of the backward: R{dinp} = gelu''(inp) inp_dot dout + gelu'(inp) R{dout},
// all [N, C]. rdinp may alias rdout; dout is the backward's upstream
// gradient, so this runs before gelu_backward overwrites it in place.
template <class T>
void gelu_backward_tangent(Tensor2<T> rdinp, ConstTensor2<T> inp, ConstTensor2<T> inp_dot, ConstTensor2<T> dout,
                           ConstTensor2<T> rdout, const ExecSpace& space = ExecSpace()) {
  const auto rdi = flat(rdinp);
  const auto in = flat(inp), in_dot = flat(inp_dot), g = flat(dout), rg = flat(rdout);
  Kokkos::parallel_for("gelu_backward_tangent", RangePolicy(space, 0, rdi.extent(0)), KOKKOS_LAMBDA(const int i) {
    T d1, d2;
    gelu_derivatives(in(i), d1, d2);
    rdi(i) = d2 * in_dot(i) * g(i) + d1 * rg(i);
  });
}

}  // namespace sk
