// Generation with a key/value cache. Each step feeds one token per sequence
// and gives the logits of the next: every layer keeps the keys and values of
// the positions already fed, so a step costs one row through the model and
// the LM head (matrix-vector work) instead of a forward over the whole prefix.
#pragma once
#include "attention_decode.hpp"
#include "gpt2.hpp"

namespace sk {

template <class T>
class Decoder {
 public:
  // S sequences of up to max_positions tokens (at most the model's
  // block_size); reads model.params at every step, so it sees later updates.
  Decoder(GPT2<T>& model, int S, int max_positions);
  // Bytes a decoder of S sequences and max_positions allocates.
  static double bytes(const GPT2Config& config, int S, int max_positions);

  // tokens [S], the token at position `pos` of each sequence; positions are
  // fed in order from 0 (a step at pos replaces the cache from pos on).
  // Returns the logits [S, padded vocab] of the token after them, valid until
  // the next step.
  ConstTensor2<T> step(Kokkos::View<const int*, MemSpace> tokens, int pos);

  // The prompts [S, P] in one batched forward of the model (matrix-matrix
  // work), which fills the cache for positions 0 .. P-1; returns the logits
  // [S, padded vocab] of the token after them. Decoding goes on at pos = P.
  ConstTensor2<T> prefill(TokenView prompts);

 private:
  GPT2Config config_;
  GPT2<T>& model_;  // its forward fills the cache in prefill
  ModelTensors<T> weights_;
  int S_, max_positions_;
  View1<T> cache_;  // keys and values of every layer: [n_layer, 2, S, NH, max_positions, HS]
  View1<T> buffer_;  // the step's activations, one allocation
  Tensor2<T> x_, ln_, qkv_, atty_, proj_, fch_, fch_gelu_, logits_;
  Tensor1<T> mean_, rstd_;
  Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> tokens_;  // [S, 1] for encoder_forward
  CacheTensor<T> cache(int layer, int which) const;
};

}  // namespace sk
