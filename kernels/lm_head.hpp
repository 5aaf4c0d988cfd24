// The LM head fused with its softmax cross-entropy, chunk by chunk of rows:
// a chunk's logits are made by a gemm, turned into losses and probabilities
// and, when gradients are wanted, into the logits' gradient and consumed by
// the two backward gemms before the next chunk overwrites them. The full
// [N, Vp] logits never exist: the head's memory is the chunk, R x Vp, set by
// the caller's scratch, whatever the batch. Its gradient is computed in the
// forward pass, so the backward pass starts from dx.
#pragma once
#include "crossentropy.hpp"
#include "views.hpp"

namespace sk {

// For each chunk of rows n0 .. n0+n: logits[:n] = x[rows] . wte^T, then
// crossentropy_forward on them (probabilities times `scale`), then
// chunk_done(n0, n, probs, x_rows).
// x [N, C]; wte [Vp, C]; targets, losses [N]; logits [R, Vp] scratch.
template <class T, class ChunkDone>
void lm_head_chunks(Tensor1<T> losses, Tensor2<T> logits, ConstTensor2<T> x, ConstTensor2<T> wte,
                    RowTokens targets, int V, T scale, ChunkDone chunk_done, const ExecSpace& space = ExecSpace()) {
  const int N = x.extent(0), C = x.extent(1), R = logits.extent(0), Vp = logits.extent(1);
  for (int n0 = 0; n0 < N; n0 += R) {
    const int n = N - n0 < R ? N - n0 : R;
    const ConstTensor2<T> x_rows(x.data() + std::size_t(n0) * C, n, C);
    const Tensor2<T> chunk(logits.data(), n, Vp);
    kblas::gemm(space, "N", "T", T(1), x_rows, wte, T(0), chunk);
    crossentropy_forward<T>(Tensor1<T>(losses.data() + n0, n), chunk, RowTokens(targets.data() + n0, n), V, scale,
                            space);
    chunk_done(n0, n, chunk, x_rows);
  }
}

// losses[r] = cross-entropy of softmax(x[r] . wte^T) against targets[r].
template <class T>
void lm_head_forward(Tensor1<T> losses, Tensor2<T> logits, ConstTensor2<T> x, ConstTensor2<T> wte,
                     RowTokens targets, int V, const ExecSpace& space = ExecSpace()) {
  lm_head_chunks<T>(losses, logits, x, wte, targets, V, T(1), [](int, int, Tensor2<T>, ConstTensor2<T>) {}, space);
}

// The backward gemms of one chunk from its logits' gradient:
//   dx[rows]     = dlogits . wte      (overwritten)
//   dwte[Vp, C] += dlogits^T . x      (+=: accumulates over chunks and
//                                      micro-batches, and the encoder adds its
//                                      part to the tied wte)
template <class T>
void lm_head_chunk_backward(Tensor2<T> dx, Tensor2<T> dwte, ConstTensor2<T> dlogits, ConstTensor2<T> x_rows,
                            ConstTensor2<T> wte, int n0, const ExecSpace& space = ExecSpace()) {
  const int n = dlogits.extent(0), C = x_rows.extent(1);
  const kblas::ConvertOnce dlogits_once(space, dlogits);  // n x Vp: the costliest conversion of a step
  kblas::gemm(space, "N", "N", T(1), dlogits, wte, T(0), Tensor2<T>(dx.data() + std::size_t(n0) * C, n, C));
  if (dwte.extent(0) > 0) kblas::gemm(space, "T", "N", T(1), dlogits, x_rows, T(1), dwte);  // empty: dx only
}

// The forward above and the backward of sum_r dloss * loss_r: dx [N, C]
// overwritten, dwte [Vp, C] added to. The softmax pass writes dloss times the
// probabilities, so only the targets' entries change before the gemms.
template <class T>
void lm_head_forward_backward(Tensor1<T> losses, Tensor2<T> dx, Tensor2<T> dwte, Tensor2<T> logits,
                              ConstTensor2<T> x, ConstTensor2<T> wte, RowTokens targets, int V, T dloss,
                              const ExecSpace& space = ExecSpace()) {
  lm_head_chunks<T>(losses, logits, x, wte, targets, V, dloss,
                    [&](int n0, int n, Tensor2<T> chunk, ConstTensor2<T> x_rows) {
                      crossentropy_backward_scaled<T>(chunk, RowTokens(targets.data() + n0, n), dloss, space);
                      lm_head_chunk_backward<T>(dx, dwte, chunk, x_rows, wte, n0, space);
                    }, space);
}

// The same, but the gradient is against other labels than the losses' targets:
// chunk_labels(n0, n, probs) returns the chunk's labels [n], called after the
// chunk's softmax (Sophia-G samples them from it).
template <class T, class ChunkLabels>
void lm_head_forward_backward(Tensor1<T> losses, Tensor2<T> dx, Tensor2<T> dwte, Tensor2<T> logits,
                              ConstTensor2<T> x, ConstTensor2<T> wte, RowTokens targets, int V, T dloss,
                              ChunkLabels chunk_labels, const ExecSpace& space = ExecSpace()) {
  lm_head_chunks<T>(losses, logits, x, wte, targets, V, T(1),
                    [&](int n0, int n, Tensor2<T> chunk, ConstTensor2<T> x_rows) {
                      crossentropy_backward<T>(chunk, chunk_labels(n0, n, ConstTensor2<T>(chunk)), dloss, space);
                      lm_head_chunk_backward<T>(dx, dwte, chunk, x_rows, wte, n0, space);
                    }, space);
}

// The forward and backward of lm_head_forward_backward with their tangents
// (the R-operator) for tangents x_dot [N, C] and wte_dot [Vp, C]: per chunk,
//   z_dot = x_dot . wte^T + x . wte_dot^T,  R{dz} = crossentropy_forward_tangent(z_dot)
//   rdx[rows] = R{dz} . wte + dz . wte_dot           (overwritten)
//   rdwte    += R{dz}^T . x + dz^T . x_dot
// dx, dwte as lm_head_forward_backward; z_dot [R, Vp] is scratch beside logits.
template <class T>
void lm_head_forward_backward_tangent(Tensor1<T> losses, Tensor2<T> dx, Tensor2<T> dwte, Tensor2<T> rdx,
                                      Tensor2<T> rdwte, Tensor2<T> logits, Tensor2<T> z_dot, ConstTensor2<T> x,
                                      ConstTensor2<T> x_dot, ConstTensor2<T> wte, ConstTensor2<T> wte_dot,
                                      RowTokens targets, int V, T dloss, const ExecSpace& space = ExecSpace()) {
  const int C = x.extent(1), Vp = logits.extent(1);
  lm_head_chunks<T>(losses, logits, x, wte, targets, V, dloss,
                    [&](int n0, int n, Tensor2<T> chunk, ConstTensor2<T> x_rows) {
                      const ConstTensor2<T> xd_rows(x_dot.data() + std::size_t(n0) * C, n, C);
                      const Tensor2<T> zd(z_dot.data(), n, Vp);
                      kblas::gemm(space, "N", "T", T(1), xd_rows, wte, T(0), zd);
                      kblas::gemm(space, "N", "T", T(1), x_rows, wte_dot, T(1), zd);
                      crossentropy_forward_tangent<T>(zd, chunk, V, dloss, space);
                      crossentropy_backward_scaled<T>(chunk, RowTokens(targets.data() + n0, n), dloss, space);
                      const kblas::ConvertOnce chunk_once(space, chunk);  // read by four gemms
                      lm_head_chunk_backward<T>(dx, dwte, chunk, x_rows, wte, n0, space);
                      lm_head_chunk_backward<T>(rdx, rdwte, zd, x_rows, wte, n0, space);
                      kblas::gemm(space, "N", "N", T(1), chunk, wte_dot, T(1), Tensor2<T>(rdx.data() + std::size_t(n0) * C, n, C));
                      kblas::gemm(space, "T", "N", T(1), chunk, xd_rows, T(1), rdwte);
                    }, space);
}

}  // namespace sk
