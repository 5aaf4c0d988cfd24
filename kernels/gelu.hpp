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

// dinp = gelu'(inp) * dout, all [N, C]. dinp may alias dout (the backward
// pass does this to save a buffer of the MLP's width).
template <class T>
void gelu_backward(Tensor2<T> dinp, ConstTensor2<T> inp, ConstTensor2<T> dout, const ExecSpace& space = ExecSpace()) {
  const auto di = flat(dinp);
  const auto in = flat(inp), dout_ = flat(dout);
  Kokkos::parallel_for("gelu_backward", RangePolicy(space, 0, di.extent(0)), KOKKOS_LAMBDA(const int i) {
    const T x = in(i);
    const T s = T(0.7978845608028654);
    const T u = s * (x + T(0.044715) * x * x * x);
    const T th = gelu_tanh(u);
    const T du = s * (T(1) + T(3) * T(0.044715) * x * x);
    const T grad = T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * du;
    di(i) = grad * dout_(i);
  });
}

}  // namespace sk
