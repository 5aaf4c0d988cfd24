#include "decoder.hpp"

#include <stdexcept>
#include <string>

#include "encoder.hpp"
#include "gelu.hpp"
#include "layernorm.hpp"
#include "matmul.hpp"
#include "residual.hpp"

namespace sk {

namespace {
// The keys and values of every layer and position; one position's activations.
std::size_t cache_elements(const GPT2Config& c, int S, int max_positions) {
  return std::size_t(c.n_layer) * 2 * S * max_positions * c.n_embd;
}
std::size_t buffer_elements(const GPT2Config& c, int S) { return std::size_t(S) * (15 * c.n_embd + c.padded_vocab() + 2); }
}  // namespace

template <class T>
double Decoder<T>::bytes(const GPT2Config& config, int S, int max_positions) {
  return double(cache_elements(config, S, max_positions) + buffer_elements(config, S)) * sizeof(T);
}

template <class T>
Decoder<T>::Decoder(GPT2<T>& model, int S, int max_positions)
    : config_(model.config()),
      model_(model),
      weights_(model.layout(), model.params.data(), model.config().n_layer),
      S_(S),
      max_positions_(max_positions) {
  if (S < 1 || max_positions < 1 || max_positions > config_.block_size)
    throw std::invalid_argument("Decoder: " + std::to_string(S) + " sequences of " + std::to_string(max_positions) +
                                " positions (block_size " + std::to_string(config_.block_size) + ")");
  const std::size_t C = config_.n_embd, Vp = config_.padded_vocab();
  cache_ = View1<T>(Kokkos::view_alloc("kv_cache", Kokkos::WithoutInitializing),
                    cache_elements(config_, S, max_positions));
  buffer_ = View1<T>(Kokkos::view_alloc("decoder_activations", Kokkos::WithoutInitializing),
                     buffer_elements(config_, S));
  T* next = buffer_.data();
  auto take2 = [&next, S](std::size_t cols) {
    Tensor2<T> t(next, S, cols);
    next += S * cols;
    return t;
  };
  x_ = take2(C), ln_ = take2(C), qkv_ = take2(3 * C), atty_ = take2(C), proj_ = take2(C);
  fch_ = take2(4 * C), fch_gelu_ = take2(4 * C), logits_ = take2(Vp);
  mean_ = Tensor1<T>(next, S), rstd_ = Tensor1<T>(next + S, S);
  if (next + 2 * S != buffer_.data() + buffer_.extent(0)) throw std::logic_error("decoder buffer size does not match its layout");
  tokens_ = Kokkos::View<int**, Kokkos::LayoutRight, MemSpace>("decoder_tokens", S, 1);
}

template <class T>
CacheTensor<T> Decoder<T>::cache(int layer, int which) const {
  const int NH = config_.n_head, HS = config_.n_embd / NH;
  const std::size_t one = std::size_t(S_) * max_positions_ * config_.n_embd;
  return CacheTensor<T>(cache_.data() + (2 * std::size_t(layer) + which) * one, S_, NH, max_positions_, HS);
}

// The forward of GPT2::trunk_forward and the LM head, for one row per
// sequence; attention reads the cache instead of the prefix's rows.
template <class T>
ConstTensor2<T> Decoder<T>::step(Kokkos::View<const int*, MemSpace> tokens, int pos) {
  if (int(tokens.extent(0)) != S_ || pos < 0 || pos >= max_positions_)
    throw std::invalid_argument("Decoder::step: " + std::to_string(tokens.extent(0)) + " tokens at position " +
                                std::to_string(pos) + " of " + std::to_string(max_positions_));
  Kokkos::deep_copy(Kokkos::subview(tokens_, Kokkos::ALL, 0), tokens);
  model_.sync_gemm_weights();  // the bf16 gemms' copy, where they run in bf16
  encoder_forward<T>(x_, tokens_, weights_.wte, Kokkos::subview(weights_.wpe, std::make_pair(pos, pos + 1), Kokkos::ALL));
  for (int l = 0; l < config_.n_layer; ++l) {
    const auto& w = weights_.h[l];
    layernorm_forward<T>(ln_, mean_, rstd_, x_, w.ln_1_w, w.ln_1_b);
    matmul_forward<T>(qkv_, ln_, w.attn_w, w.attn_b);
    kv_cache_store<T>(cache(l, 0), cache(l, 1), qkv_, pos);
    attention_decode<T>(atty_, qkv_, cache(l, 0), cache(l, 1), pos);
    matmul_forward<T>(proj_, atty_, w.attn_proj_w, w.attn_proj_b);
    residual_forward<T>(x_, x_, proj_);
    layernorm_forward<T>(ln_, mean_, rstd_, x_, w.ln_2_w, w.ln_2_b);
    matmul_forward<T>(fch_, ln_, w.fc_w, w.fc_b);
    gelu_forward<T>(fch_gelu_, fch_);
    matmul_forward<T>(proj_, fch_gelu_, w.mlp_proj_w, w.mlp_proj_b);
    residual_forward<T>(x_, x_, proj_);
  }
  layernorm_forward<T>(ln_, mean_, rstd_, x_, weights_.ln_f_w, weights_.ln_f_b);
  matmul_forward<T>(logits_, ln_, weights_.wte, ConstTensor1<T>());
  return logits_;
}

template <class T>
ConstTensor2<T> Decoder<T>::prefill(TokenView prompts) {
  const int P = int(prompts.extent(1));
  if (int(prompts.extent(0)) != S_ || P < 1 || P > max_positions_)
    throw std::invalid_argument("Decoder::prefill: " + std::to_string(prompts.extent(0)) + " prompts of " +
                                std::to_string(P) + " tokens, for " + std::to_string(S_) + " of up to " +
                                std::to_string(max_positions_));
  model_.next_logits(prompts, logits_);
  for (int l = 0; l < config_.n_layer; ++l) kv_cache_prefill<T>(cache(l, 0), cache(l, 1), model_.layer_qkv(l), P);
  return logits_;
}

template class Decoder<float>;
template class Decoder<double>;

}  // namespace sk
