// Token + position embedding.
#pragma once
#include "views.hpp"

namespace sk {

// out[b*T+t, c] = wte[tokens[b,t], c] + wpe[t, c]
// out [B*T, C], tokens [B, T], wte [Vp, C], wpe [block_size, C]
template <class T>
void encoder_forward(Tensor2<T> out, TokenView tokens, ConstTensor2<T> wte, ConstTensor2<T> wpe) {
  const int Tn = tokens.extent(1), C = out.extent(1);
  Kokkos::parallel_for("encoder_forward", Range2D({0, 0}, {int(out.extent(0)), C}),
                       KOKKOS_LAMBDA(const int bt, const int c) {
                         const int t = bt % Tn;
                         out(bt, c) = wte(tokens(bt / Tn, t), c) + wpe(t, c);
                       });
}

// dwte[tokens[b,t], :] += dout[b*T+t, :];  dwpe[t, :] += sum_b dout[b*T+t, :]
// += because gradients accumulate over micro-batches, and dwte already holds
// the LM head's contribution.
template <class T>
void encoder_backward(Tensor2<T> dwte, Tensor2<T> dwpe, ConstTensor2<T> dout, TokenView tokens) {
  const int B = tokens.extent(0), Tn = tokens.extent(1), C = dout.extent(1);
  Kokkos::parallel_for("encoder_backward_wpe", Range2D({0, 0}, {Tn, C}), KOKKOS_LAMBDA(const int t, const int c) {
    T sum = 0;
    for (int b = 0; b < B; ++b) sum += dout(b * Tn + t, c);
    dwpe(t, c) += sum;
  });
  // The same token may occur at many positions, so a thread per position would
  // race on its row of dwte. A thread per channel owns its column of dwte and
  // adds the positions in a fixed order: no atomics, and the result does not
  // depend on the backend.
  Kokkos::parallel_for("encoder_backward_wte", RangePolicy(0, C), KOKKOS_LAMBDA(const int c) {
    for (int bt = 0; bt < B * Tn; ++bt) dwte(tokens(bt / Tn, bt % Tn), c) += dout(bt, c);
  });
}

}  // namespace sk
