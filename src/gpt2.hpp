// GPT-2 assembled from the kernels over one flat parameter buffer.
//
//   x  = wte[tokens] + wpe[positions]
//   for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
//   logits = ln_f(x) . wte^T          (LM head tied to the token embedding)
//   loss = mean cross-entropy(logits, targets)
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "../kernels/views.hpp"
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

// Activations of one forward pass, kept for the backward; sized for (B, T).
template <class T>
struct Activations {
  struct Block {
    Tensor2<T> ln_1, qkv, atty, residual_2, ln_2, fch, fch_gelu, residual_3;
    Tensor1<T> ln_1_mean, ln_1_rstd, ln_2_mean, ln_2_rstd;
    Tensor1<T> att_lse;  // attention's per-row logsumexp [B*NH*T]
  };
  int B = 0, T_ = 0;
  View1<T> buffer;  // one allocation for all of them
  Tensor2<T> encoded, proj, ln_f, logits;  // logits hold probabilities after the forward
  Tensor1<T> ln_f_mean, ln_f_rstd, losses;
  std::vector<Block> h;
  // Gradient scratch, reused by every block on the way down.
  Tensor2<T> dresidual, dln, dqkv, datty, dfch;
  Tensor1<T> ones;  // B*T ones, for bias gradients as gemv
  // Scratch of the deterministic column reductions (kernels/reduction.hpp):
  // LayerNorm's per-block partial sums, and the encoder's token grouping.
  View1<T> column_partials;
  Kokkos::View<int*, MemSpace> token_scratch;
  View1<T> attention_scratch;  // attention's own (kernels/attention.hpp): O(T) or O(B*NH*T)
};

template <class T>
class GPT2 {
  // Declared first: the buffers below are sized from them.
  GPT2Config config_;
  ParameterLayout layout_;

 public:
  explicit GPT2(const GPT2Config& config);

  const GPT2Config& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }

  // Flat buffers of layout().size() elements, in the default memory space.
  View1<T> params, grads;

  // GPT-2's initialisation: weights normal(0, 0.02), residual projections
  // scaled by 1/sqrt(2 n_layer), zero biases, unit LayerNorm weights.
  void init_random(std::uint64_t seed);

  // Mean loss over the batch. inputs and targets are [B, T] token ids; T must
  // not exceed block_size and ids must be below vocab_size (the caller checks).
  T forward(TokenView inputs, TokenView targets);
  // Gradients of the flat buffer from `offset` to its end are final (for data
  // parallelism: their reduction over ranks may start).
  using GradientsReady = std::function<void(std::size_t offset)>;

  // Adds d(mean loss)/d(params) of the last forward to grads. `ready`, if
  // given, hears as the gradients become final from the top layer down: ln_f,
  // then each block, then the embeddings (offset 0).
  void backward(const GradientsReady& ready = {}) { backward(targets_, ready); }
  // The same against other labels for the last forward's inputs (Sophia-G
  // backpropagates labels sampled from the model).
  void backward(TokenView targets, const GradientsReady& ready = {});
  void zero_grad();

  // The softmax of the last forward, [B*T, padded_vocab], until the next
  // backward overwrites it.
  ConstTensor2<T> probabilities() const { return a_.logits; }

 private:
  void ensure_activations(int B, int T_);

  ModelTensors<T> p_, g_;
  Activations<T> a_;
  TokenView inputs_, targets_;
};

}  // namespace sk
