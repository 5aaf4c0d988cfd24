// GPT2::hvp: exact Hessian-vector products by forward-over-reverse
// differentiation (Pearlmutter's R-operator). For a direction v, R{f} is the
// derivative of f along v: the forward's tangent gives R{activation} for
// every activation, the backward's tangent R{gradient}, and R{grad of the
// parameters} is H.v. Each kernel's tangent sits beside the kernel in
// kernels/; the linear ones (the embeddings, the residual sums) are their
// own tangents. Each step of the backward runs its tangent first, since some
// primal kernels overwrite their upstream gradient in place.
#include <stdexcept>

#include "attention.hpp"
#include "encoder.hpp"
#include "gelu.hpp"
#include "gpt2.hpp"
#include "layernorm.hpp"
#include "lm_head.hpp"
#include "matmul.hpp"
#include "residual.hpp"

namespace sk {

namespace {

// A gradient tensor, or the empty view that makes its kernel skip it where
// the HVP goes without the gradient (g null).
template <class T, class Select>
auto gradient_or_empty(const ModelTensors<T>* g, Select select) -> std::decay_t<decltype(select(*g))> {
  return g ? select(*g) : std::decay_t<decltype(select(*g))>();
}

}  // namespace

template <class T>
T GPT2<T>::hvp(TokenView inputs, TokenView targets, ConstTensor1<T> v, Tensor1<T> out, const GradientsReady& ready,
               HvpGradient gradient) {
  if (v.extent(0) != layout_.size() || out.extent(0) != layout_.size())
    throw std::logic_error("hvp: the direction and the output must have the parameters' size");
  const ModelTensors<T> dir(layout_, const_cast<T*>(v.data()), config_.n_layer);  // read only
  ModelTensors<T> hv(layout_, out.data(), config_.n_layer);
  trunk_forward(inputs);
  const int B = acts_.batch, seq = acts_.seq;
  if (tangents_.batch != B || tangents_.seq != seq) {
    allocate_activations(tangents_, config_, B, seq);
    const AttentionShape shape{B, seq, config_.n_head, config_.n_embd / config_.n_head};
    attention_tangent_scratch_ = View1<T>("attention_tangent_scratch", attention_tangent_scratch_size(shape));
  }
  trunk_forward_tangent(dir);
  const ModelTensors<T>* g = gradient == HvpGradient::add ? &grad_tensors() : nullptr;
  const T loss = head_forward_backward_tangent(targets, dir, hv, g);
  backward_tangent(dir, hv, g, ready);
  return loss;
}

// R{activation} of every activation trunk_forward keeps, in tangents_.
template <class T>
void GPT2<T>::trunk_forward_tangent(const ModelTensors<T>& dir) {
  const int seq = acts_.seq, C = config_.n_embd, NH = config_.n_head;
  const AttentionShape shape{acts_.batch, seq, NH, C / NH};
  auto& ta = tangents_;
  const Tensor1<T> tangent_scratch(attention_tangent_scratch_.data(), attention_tangent_scratch_.extent(0));
  encoder_forward<T>(ta.encoded, inputs_, dir.wte, Kokkos::subview(dir.wpe, std::make_pair(0, seq), Kokkos::ALL));
  Tensor2<T> x = acts_.encoded, xd = ta.encoded;
  for (int l = 0; l < config_.n_layer; ++l) {
    const auto& w = weights_.h[l];
    const auto& d = dir.h[l];
    const auto& a = acts_.h[l];
    auto& t = ta.h[l];
    layernorm_forward_tangent<T>(t.ln_1, t.ln_1_mean, t.ln_1_rstd, x, xd, w.ln_1_w, d.ln_1_w, d.ln_1_b, a.ln_1_mean,
                                 a.ln_1_rstd);
    matmul_forward_tangent<T>(t.qkv, a.ln_1, t.ln_1, w.attn_w, d.attn_w, d.attn_b);
    attention_forward_tangent<T>(t.atty, t.att_lse, tangent_scratch, a.qkv, t.qkv, a.att_lse, shape);
    matmul_forward_tangent<T>(ta.proj, a.atty, t.atty, w.attn_proj_w, d.attn_proj_w, d.attn_proj_b);
    residual_forward<T>(t.residual_2, xd, ta.proj);
    layernorm_forward_tangent<T>(t.ln_2, t.ln_2_mean, t.ln_2_rstd, a.residual_2, t.residual_2, w.ln_2_w, d.ln_2_w,
                                 d.ln_2_b, a.ln_2_mean, a.ln_2_rstd);
    matmul_forward_tangent<T>(t.fch, a.ln_2, t.ln_2, w.fc_w, d.fc_w, d.fc_b);
    gelu_forward_tangent<T>(t.fch_gelu, a.fch, t.fch);
    matmul_forward_tangent<T>(ta.proj, a.fch_gelu, t.fch_gelu, w.mlp_proj_w, d.mlp_proj_w, d.mlp_proj_b);
    residual_forward<T>(t.residual_3, t.residual_2, ta.proj);
    x = a.residual_3;
    xd = t.residual_3;
  }
  layernorm_forward_tangent<T>(ta.ln_f, ta.ln_f_mean, ta.ln_f_rstd, x, xd, weights_.ln_f_w, dir.ln_f_w, dir.ln_f_b,
                               acts_.ln_f_mean, acts_.ln_f_rstd);
}

// The LM head and its loss with their tangents: the gradient of ln_f's output
// to acts_.dln, its tangent to tangents_.dln; wte's parts to grads and hv.
template <class T>
T GPT2<T>::head_forward_backward_tangent(TokenView targets, const ModelTensors<T>& dir, ModelTensors<T>& hv,
                                         const ModelTensors<T>* g) {
  const int N = acts_.batch * acts_.seq;
  lm_head_forward_backward_tangent<T>(acts_.losses, acts_.dln, gradient_or_empty(g, [](auto& t) { return t.wte; }), tangents_.dln, hv.wte,
                                      acts_.head_logits, tangents_.head_logits, acts_.ln_f, tangents_.ln_f,
                                      weights_.wte, dir.wte, row_tokens(targets, 0, N), config_.vocab_size,
                                      T(1) / T(N));
  return mean_loss<T>(acts_.losses, acts_.column_partials.data());
}

// Block l's backward (as GPT2::backward) with its tangent: dres and rdres are
// the residual stream's gradient and its tangent, carried down.
template <class T>
void GPT2<T>::block_backward_tangent(int l, Tensor2<T> dres, Tensor2<T> rdres, const ModelTensors<T>& dir,
                                     ModelTensors<T>& hv, const ModelTensors<T>* g) {
  const int C = config_.n_embd, NH = config_.n_head;
  const AttentionShape shape{acts_.batch, acts_.seq, NH, C / NH};
  // Without the gradient, empty tensors: the kernels skip their products.
  const BlockTensors<T> dw = g ? g->h[l] : BlockTensors<T>{};
  const auto &w = weights_.h[l], &d = dir.h[l], &r = hv.h[l];
  const auto &a = acts_.h[l], &t = tangents_.h[l];
  auto &P = acts_, &R = tangents_;  // primal and tangent gradient scratch
  const auto ones = acts_.ones;
  const Tensor1<T> partials(P.column_partials.data(), P.column_partials.extent(0));
  const Tensor1<T> rpartials(R.column_partials.data(), R.column_partials.extent(0));
  const Tensor2<T> x = l > 0 ? P.h[l - 1].residual_3 : P.encoded, xd = l > 0 ? R.h[l - 1].residual_3 : R.encoded;
  // MLP branch.
  matmul_backward_tangent<T>(R.dfch, r.mlp_proj_w, r.mlp_proj_b, dres, rdres, a.fch_gelu, t.fch_gelu, w.mlp_proj_w,
                             d.mlp_proj_w, ones);
  matmul_backward<T>(P.dfch, dw.mlp_proj_w, dw.mlp_proj_b, dres, a.fch_gelu, w.mlp_proj_w, ones);
  gelu_backward_tangent<T>(R.dfch, a.fch, t.fch, P.dfch, R.dfch);
  gelu_backward<T>(P.dfch, a.fch, P.dfch);
  matmul_backward_tangent<T>(R.dln, r.fc_w, r.fc_b, P.dfch, R.dfch, a.ln_2, t.ln_2, w.fc_w, d.fc_w, ones);
  matmul_backward<T>(P.dln, dw.fc_w, dw.fc_b, P.dfch, a.ln_2, w.fc_w, ones);
  layernorm_backward_tangent<T>(rdres, r.ln_2_w, r.ln_2_b, P.dln, R.dln, a.residual_2, t.residual_2, w.ln_2_w,
                                d.ln_2_w, a.ln_2_mean, a.ln_2_rstd, t.ln_2_mean, t.ln_2_rstd, rpartials);
  layernorm_backward<T>(dres, dw.ln_2_w, dw.ln_2_b, P.dln, a.residual_2, w.ln_2_w, a.ln_2_mean, a.ln_2_rstd, partials);
  // Attention branch.
  matmul_backward_tangent<T>(R.datty, r.attn_proj_w, r.attn_proj_b, dres, rdres, a.atty, t.atty, w.attn_proj_w,
                             d.attn_proj_w, ones);
  matmul_backward<T>(P.datty, dw.attn_proj_w, dw.attn_proj_b, dres, a.atty, w.attn_proj_w, ones);
  const Tensor1<T> tangent_scratch(attention_tangent_scratch_.data(), attention_tangent_scratch_.extent(0));
  attention_backward_tangent<T>(R.dqkv, tangent_scratch, P.datty, R.datty, a.qkv, t.qkv, a.atty, t.atty, a.att_lse,
                                t.att_lse, shape);
  const Tensor1<T> att_scratch(P.attention_scratch.data(), P.attention_scratch.extent(0));
  attention_backward<T>(P.dqkv, att_scratch, P.datty, a.qkv, a.atty, a.att_lse, shape);
  matmul_backward_tangent<T>(R.dln, r.attn_w, r.attn_b, P.dqkv, R.dqkv, a.ln_1, t.ln_1, w.attn_w, d.attn_w, ones);
  matmul_backward<T>(P.dln, dw.attn_w, dw.attn_b, P.dqkv, a.ln_1, w.attn_w, ones);
  layernorm_backward_tangent<T>(rdres, r.ln_1_w, r.ln_1_b, P.dln, R.dln, x, xd, w.ln_1_w, d.ln_1_w, a.ln_1_mean,
                                a.ln_1_rstd, t.ln_1_mean, t.ln_1_rstd, rpartials);
  layernorm_backward<T>(dres, dw.ln_1_w, dw.ln_1_b, P.dln, x, w.ln_1_w, a.ln_1_mean, a.ln_1_rstd, partials);
}

// GPT2::backward with its tangent: grads gets the gradient, hv its tangent H.v.
template <class T>
void GPT2<T>::backward_tangent(const ModelTensors<T>& dir, ModelTensors<T>& hv, const ModelTensors<T>* g,
                               const GradientsReady& ready) {
  const int seq = acts_.seq;
  const auto dres = acts_.dresidual, rdres = tangents_.dresidual;
  Kokkos::deep_copy(dres, T(0));
  Kokkos::deep_copy(rdres, T(0));
  const Tensor2<T> x = acts_.h.back().residual_3, xd = tangents_.h.back().residual_3;
  const Tensor1<T> partials(acts_.column_partials.data(), acts_.column_partials.extent(0));
  layernorm_backward_tangent<T>(rdres, hv.ln_f_w, hv.ln_f_b, acts_.dln, tangents_.dln, x, xd, weights_.ln_f_w,
                                dir.ln_f_w, acts_.ln_f_mean, acts_.ln_f_rstd, tangents_.ln_f_mean,
                                tangents_.ln_f_rstd, partials);
  layernorm_backward<T>(dres, gradient_or_empty(g, [](auto& t) { return t.ln_f_w; }),
                        gradient_or_empty(g, [](auto& t) { return t.ln_f_b; }), acts_.dln, x, weights_.ln_f_w, acts_.ln_f_mean, acts_.ln_f_rstd,
                        partials);
  if (ready) ready(layout_.find("transformer.ln_f.weight").offset);
  for (int l = config_.n_layer - 1; l >= 0; --l) {
    block_backward_tangent(l, dres, rdres, dir, hv, g);
    if (ready) ready(layout_.find("transformer.h." + std::to_string(l) + ".ln_1.weight").offset);
  }
  const auto positions = std::make_pair(0, seq);
  if (g) encoder_backward<T>(g->wte, Kokkos::subview(g->wpe, positions, Kokkos::ALL), dres, inputs_, acts_.token_scratch);
  // The embeddings are linear in their weights: their backward is its own tangent.
  encoder_backward<T>(hv.wte, Kokkos::subview(hv.wpe, positions, Kokkos::ALL), rdres, inputs_, acts_.token_scratch);
  if (ready) ready(0);
}

template float GPT2<float>::hvp(TokenView, TokenView, ConstTensor1<float>, Tensor1<float>, const GradientsReady&,
                                HvpGradient);
template double GPT2<double>::hvp(TokenView, TokenView, ConstTensor1<double>, Tensor1<double>,
                                   const GradientsReady&, HvpGradient);

}  // namespace sk
