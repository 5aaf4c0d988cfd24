// GPT-2 assembled from the kernels over one flat parameter buffer.
//
//   x  = wte[tokens] + wpe[positions]
//   for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
//   logits = ln_f(x) . wte^T          (LM head tied to the token embedding)
//   loss = mean cross-entropy(logits, targets)
//
// The LM head and its loss run chunk by chunk of rows (kernels/lm_head.hpp),
// with their backward fused into the forward pass: the [B*T, vocab] logits
// never exist whole.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "views.hpp"
#include "config.hpp"
#include "parameters.hpp"

namespace sk {

template <class T>
struct BlockTensors {
  Tensor1<T> ln_1_w, ln_1_b;
  Tensor2<T> attn_w;  // c_attn [3C, C]
  Tensor1<T> attn_b;
  Tensor2<T> attn_proj_w;  // attn.c_proj [C, C]
  Tensor1<T> attn_proj_b;
  Tensor1<T> ln_2_w, ln_2_b;
  Tensor2<T> fc_w;  // mlp.c_fc [4C, C]
  Tensor1<T> fc_b;
  Tensor2<T> mlp_proj_w;  // mlp.c_proj [C, 4C]
  Tensor1<T> mlp_proj_b;
};

// Named views of every tensor in a flat buffer (parameters or gradients).
template <class T>
struct ModelTensors {
  Tensor2<T> wte, wpe;
  std::vector<BlockTensors<T>> h;
  Tensor1<T> ln_f_w, ln_f_b;
  ModelTensors(const ParameterLayout& layout, T* base, int n_layer);
};

// Rows of the LM head's chunk for a batch of BT rows (kernels/lm_head.hpp),
// in the gemm precision in force.
std::size_t head_chunk_rows(std::size_t BT);

// Elements of the one buffer that holds the activations of B x T tokens.
std::size_t activation_buffer_elements(const GPT2Config& config, int B, int T);

// Activations of one forward pass, kept for the backward; sized for (B, T).
template <class T>
struct Activations {
  struct Block {
    Tensor2<T> ln_1, qkv, atty, residual_2, ln_2, fch, fch_gelu, residual_3;
    Tensor1<T> ln_1_mean, ln_1_rstd, ln_2_mean, ln_2_rstd;
    Tensor1<T> att_lse;  // attention's per-row logsumexp [B*NH*T]
  };
  int batch = 0, seq = 0;
  View1<T> buffer;  // one allocation for all of them
  Tensor2<T> encoded, proj, ln_f;
  Tensor2<T> head_logits;  // one chunk of the LM head's logits, [head_chunk_rows, padded vocab]
  Tensor1<T> ln_f_mean, ln_f_rstd, losses;
  std::vector<Block> h;
  // Gradient scratch, reused by every block on the way down.
  // dln holds ln_f's output gradient from the forward (the fused LM head) to the backward.
  Tensor2<T> dresidual, dln, dqkv, datty, dfch;
  Tensor1<T> ones;  // B*T ones: bias gradients as a gemm with one row (kernels/matmul.hpp)
  // Scratch of the deterministic column reductions (kernels/reduction.hpp):
  // LayerNorm's per-block partial sums, and the encoder's token grouping.
  View1<T> column_partials;
  Kokkos::View<int*, MemSpace> token_scratch;
  View1<T> attention_scratch;  // attention's own (kernels/attention.hpp): O(T) or O(B*NH*T)
  // The label sampler's chunk sums, [head chunk rows, vocabulary chunks]
  // (kernels/sampling.hpp): allocated by the first sampled forward.
  Kokkos::View<double**, Kokkos::LayoutRight, MemSpace> sample_sums;
};

// Sizes acts for a forward over B x seq tokens (the tangents of an HVP have
// the same layout).
template <class T>
void allocate_activations(Activations<T>& acts, const GPT2Config& config, int B, int seq);

template <class T>
class GPT2 {
  // Declared first: the buffers below are sized from them.
  GPT2Config config_;
  ParameterLayout layout_;

 public:
  // kept: a gradient buffer beside the weights, for training and grad;
  // none: inference only (evaluate, next_logits, the decoder), with half the
  // memory; forward with targets and backward then throw.
  enum class Gradients { kept, none };
  explicit GPT2(const GPT2Config& config, Gradients gradients = Gradients::kept);

  const GPT2Config& config() const { return config_; }
  // Bytes the LM head's logits take for a batch of B x T: one chunk of rows
  // (kernels/lm_head.hpp), at most kHeadChunkRows x padded vocab.
  std::size_t lm_head_bytes(int B, int seq) const;
  const ParameterLayout& layout() const { return layout_; }

  // Flat buffers of layout().size() elements, in the default memory space
  // (grads empty without gradients).
  View1<T> params, grads;

  // GPT-2's initialisation: weights normal(0, 0.02), residual projections
  // scaled by 1/sqrt(2 n_layer), zero biases, unit LayerNorm weights.
  void init_random(std::uint64_t seed);

  // Mean loss over the batch, and nothing kept for a backward (evaluation).
  // inputs and targets are [B, T] token ids; T must not exceed block_size and
  // ids must be below vocab_size (the caller checks).
  T evaluate(TokenView inputs, TokenView targets);

  // Logits [B, padded vocab] of the token after each of the B sequences of
  // inputs [B, T], from a forward over all T positions: generation without a
  // key/value cache (src/model/decoder.hpp keeps one) and its tests.
  void next_logits(TokenView inputs, Tensor2<T> out);

  // Mean loss over the batch, keeping what the backward needs. The LM head's
  // backward runs here already and adds its part of wte's gradient to grads,
  // so zero_grad() comes before the forward.
  T forward(TokenView inputs, TokenView targets);
  // Labels drawn from the model's own softmax, for Sophia-G's estimator.
  struct SampledLabels {
    Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels;  // [B, T], written
    Kokkos::View<const std::uint64_t*, MemSpace> sequences;     // [B]: each row's global sequence number
    std::uint64_t key;                                          // the draw (seed and step)
  };
  // The same, but the gradient is that of the mean loss against labels
  // sampled from the softmax (kernels/sampling.hpp); the returned loss is
  // still against targets.
  T forward(TokenView inputs, TokenView targets, const SampledLabels& sampled);

  // Gradients of the flat buffer from `offset` to its end are final (for data
  // parallelism: their reduction over ranks may start).
  using GradientsReady = std::function<void(std::size_t offset)>;

  // Adds the rest of d(mean loss)/d(params) of the last forward to grads.
  // `ready`, if given, hears as the gradients become final from the top layer
  // down: ln_f, then each block, then the embeddings (offset 0).
  void backward(const GradientsReady& ready = {});
  void zero_grad();

  // Hessian-vector product of the mean loss, exact up to float rounding:
  // out = (d^2 loss / d params^2) . v for a direction v over the flat
  // parameter buffer (both layout().size() elements; padding rows of v must
  // be zero). Forward-over-reverse (Pearlmutter's R-operator): the forward,
  // its tangent in direction v, the backward and the backward's tangent,
  // kernel by kernel. Like backward, it adds: H.v to out and, as a
  // by-product with backward's bits, the gradient to grads (zero both first
  // for one batch's); `ready` hears as backward's does. Returns the mean
  // loss. The tangent buffers (as large as the activations) are allocated by
  // the first call and kept; models that never call it hold none.
  // HvpGradient::skip leaves grads alone and spares the gradient's weight
  // products (one gemm in nine); H.v keeps its bits.
  enum class HvpGradient { add, skip };
  T hvp(TokenView inputs, TokenView targets, ConstTensor1<T> v, Tensor1<T> out, const GradientsReady& ready = {},
        HvpGradient gradient = HvpGradient::add);
  // Where the gemms run in bf16 (kblas::gemm_precision() when the model is
  // built), they read a bf16 copy of params (half its bytes), refreshed by the
  // first forward after params change. Whoever writes params after a forward
  // (the optimizer step) says so here.
  void weights_changed() { gemm_weights_stale_ = true; }
  // Bytes of that copy; 0 in fp32.
  std::size_t gemm_weights_bytes() const;
  // Refreshes the copy if params changed since (the decoder, before decoding).
  void sync_gemm_weights();

  // Where NaN or inf begin: the first parameter tensor holding one, else the
  // first activation of the last forward that does, in the order the forward
  // computes them (e.g. "the output of h.3.mlp.c_fc"); "" when every one is
  // finite. A diagnostic for a loss or logits that are not finite.
  std::string nonfinite_origin() const;

  // c_attn's output of layer l in the last forward, [B*T, 3C]: the queries,
  // keys and values (the decoder's prefill keeps the keys and values).
  ConstTensor2<T> layer_qkv(int l) const { return acts_.h[l].qkv; }

 private:
  void ensure_activations(int B, int seq);
  void trunk_forward(TokenView inputs);  // up to ln_f
  // The HVP's passes (src/model/gpt2_hvp.cpp), with dir the direction's
  // tensors and hv the output's.
  void trunk_forward_tangent(const ModelTensors<T>& dir);
  // g: the gradient's tensors, or null where hvp skips the gradient.
  T head_forward_backward_tangent(TokenView targets, const ModelTensors<T>& dir, ModelTensors<T>& hv,
                                  const ModelTensors<T>* g);
  void block_backward_tangent(int l, Tensor2<T> dres, Tensor2<T> rdres, const ModelTensors<T>& dir, ModelTensors<T>& hv,
                              const ModelTensors<T>* g);
  void backward_tangent(const ModelTensors<T>& dir, ModelTensors<T>& hv, const ModelTensors<T>* g,
                        const GradientsReady& ready);

  ModelTensors<T> weights_;
  std::optional<ModelTensors<T>> grad_tensors_;  // views into grads, when kept
  ModelTensors<T>& grad_tensors();
  Activations<T> acts_;
  TokenView inputs_;
  // The HVP's tangents of the activations (R{activation}; the gradient
  // scratch holds R{gradient}), and attention's delta and R{delta}.
  Activations<T> tangents_;
  View1<T> attention_tangent_scratch_;
  std::shared_ptr<void> gemm_weights_;  // onednn::Bf16Copy of params, in bf16 only
  bool gemm_weights_stale_ = true;
};

}  // namespace sk
