// GELU with GPT-2's tanh approximation:
// gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#pragma once
#include "views.hpp"

namespace sk {

// out = gelu(inp), both [N, C]
template <class T>
void gelu_forward(Tensor2<T> out, ConstTensor2<T> inp) {
  const int C = out.extent(1);
  Kokkos::parallel_for("gelu_forward", RangePolicy(0, out.extent(0) * C), KOKKOS_LAMBDA(const int i) {
    const T x = inp(i / C, i % C);
    const T s = T(0.7978845608028654);  // sqrt(2/pi)
    out(i / C, i % C) = T(0.5) * x * (T(1) + kmath::tanh(s * (x + T(0.044715) * x * x * x)));
  });
}

// dinp = gelu'(inp) * dout, all [N, C]. dinp may alias dout (the backward
// pass does this to save a buffer of the MLP's width).
template <class T>
void gelu_backward(Tensor2<T> dinp, ConstTensor2<T> inp, ConstTensor2<T> dout) {
  const int C = dinp.extent(1);
  Kokkos::parallel_for("gelu_backward", RangePolicy(0, dinp.extent(0) * C), KOKKOS_LAMBDA(const int i) {
    const T x = inp(i / C, i % C);
    const T s = T(0.7978845608028654);
    const T u = s * (x + T(0.044715) * x * x * x);
    const T th = kmath::tanh(u);
    const T du = s * (T(1) + T(3) * T(0.044715) * x * x);
    const T grad = T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * du;
    dinp(i / C, i % C) = grad * dout(i / C, i % C);
  });
}

}  // namespace sk
