// The LM head fused with its softmax cross-entropy, chunk by chunk of rows:
// a chunk's logits are made by a gemm, turned into losses and probabilities
// and, when gradients are wanted, into the logits' gradient and consumed by
// the two backward gemms before the next chunk overwrites them. The full
// [N, Vp] logits never exist: the head's memory is the chunk, R x Vp, set by
// the caller's scratch, whatever the batch. Its gradient is computed in the
// forward pass, so the backward pass starts from dx.
#pragma once
#include <KokkosBlas3_gemm.hpp>

#include "crossentropy.hpp"
#include "views.hpp"

namespace sk {

// For each chunk of rows n0 .. n0+n: logits[:n] = x[rows] . wte^T, then
// crossentropy_forward on them, then chunk_done(n0, n, probs, x_rows).
// x [N, C]; wte [Vp, C]; targets, losses [N]; logits [R, Vp] scratch.
template <class T, class ChunkDone>
void lm_head_chunks(Tensor1<T> losses, Tensor2<T> logits, ConstTensor2<T> x, ConstTensor2<T> wte,
                    RowTokens targets, int V, ChunkDone chunk_done) {
  const int N = x.extent(0), C = x.extent(1), R = logits.extent(0), Vp = logits.extent(1);
  for (int n0 = 0; n0 < N; n0 += R) {
    const int n = N - n0 < R ? N - n0 : R;
    const ConstTensor2<T> x_rows(x.data() + std::size_t(n0) * C, n, C);
    const Tensor2<T> chunk(logits.data(), n, Vp);
    KokkosBlas::gemm("N", "T", T(1), x_rows, wte, T(0), chunk);
    crossentropy_forward<T>(Tensor1<T>(losses.data() + n0, n), chunk, RowTokens(targets.data() + n0, n), V);
    chunk_done(n0, n, chunk, x_rows);
  }
}

// losses[r] = cross-entropy of softmax(x[r] . wte^T) against targets[r].
template <class T>
void lm_head_forward(Tensor1<T> losses, Tensor2<T> logits, ConstTensor2<T> x, ConstTensor2<T> wte,
                     RowTokens targets, int V) {
  lm_head_chunks<T>(losses, logits, x, wte, targets, V, [](int, int, Tensor2<T>, ConstTensor2<T>) {});
}

// The forward above and the backward of sum_r dloss * loss_r(labels[r]):
//   dx[N, C]     = dlogits . wte      (overwritten)
//   dwte[Vp, C] += dlogits^T . x      (+=: accumulates over micro-batches, and
//                                      the encoder adds its part to the tied wte)
// Labels may differ from the targets the losses use: chunk_labels(n0, n, probs)
// returns the chunk's labels [n], called after the chunk's softmax (Sophia-G
// samples them from it).
template <class T, class ChunkLabels>
void lm_head_forward_backward(Tensor1<T> losses, Tensor2<T> dx, Tensor2<T> dwte, Tensor2<T> logits,
                              ConstTensor2<T> x, ConstTensor2<T> wte, RowTokens targets, int V, T dloss,
                              ChunkLabels chunk_labels) {
  const int C = x.extent(1);
  lm_head_chunks<T>(losses, logits, x, wte, targets, V,
                    [&](int n0, int n, Tensor2<T> chunk, ConstTensor2<T> x_rows) {
                      crossentropy_backward<T>(chunk, chunk_labels(n0, n, ConstTensor2<T>(chunk)), dloss);
                      const ConstTensor2<T> dlogits(chunk);
                      KokkosBlas::gemm("N", "N", T(1), dlogits, wte, T(0),
                                       Tensor2<T>(dx.data() + std::size_t(n0) * C, n, C));
                      KokkosBlas::gemm("T", "N", T(1), dlogits, x_rows, T(1), dwte);
                    });
}

}  // namespace sk
