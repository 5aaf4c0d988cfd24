// Residual connection. Its backward needs no kernel: the gradient of the sum
// flows unchanged into both branches, so the backward pass keeps one running
// residual gradient and lets each branch add to it.
#pragma once
#include "views.hpp"

namespace sk {

// out = a + b, all [N, C]
template <class T>
void residual_forward(Tensor2<T> out, ConstTensor2<T> a, ConstTensor2<T> b, const ExecSpace& space = ExecSpace()) {
  const auto o = flat(out);
  const auto x = flat(a), y = flat(b);
  Kokkos::parallel_for("residual_forward", RangePolicy(space, 0, o.extent(0)), KOKKOS_LAMBDA(const int i) {
    o(i) = x(i) + y(i);
  });
}

}  // namespace sk
