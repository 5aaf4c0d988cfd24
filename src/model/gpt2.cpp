#include "gpt2.hpp"

#include <cmath>
#include <random>
#include <stdexcept>

#include "attention.hpp"
#include "error.hpp"
#include "encoder.hpp"
#include "gelu.hpp"
#include "layernorm.hpp"
#include "lm_head.hpp"
#include "probe.hpp"
#include "matmul.hpp"
#include "reduction.hpp"
#include "residual.hpp"
#include "sampling.hpp"

namespace sk {
namespace {

// Named views into a flat buffer of `layout`.
template <class T>
Tensor1<T> view1(const ParameterLayout& layout, T* base, const std::string& name) {
  const TensorSpec& s = layout.find(name);
  return Tensor1<T>(base + s.offset, s.shape[0]);
}
template <class T>
Tensor2<T> view2(const ParameterLayout& layout, T* base, const std::string& name) {
  const TensorSpec& s = layout.find(name);
  return Tensor2<T>(base + s.offset, s.shape[0], s.shape[1]);
}

}  // namespace

template <class T>
ModelTensors<T>::ModelTensors(const ParameterLayout& layout, T* base, int n_layer)
    : wte(view2(layout, base, "transformer.wte.weight")),
      wpe(view2(layout, base, "transformer.wpe.weight")),
      ln_f_w(view1(layout, base, "transformer.ln_f.weight")),
      ln_f_b(view1(layout, base, "transformer.ln_f.bias")) {
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    h.push_back({view1(layout, base, p + "ln_1.weight"), view1(layout, base, p + "ln_1.bias"),
                 view2(layout, base, p + "attn.c_attn.weight"), view1(layout, base, p + "attn.c_attn.bias"),
                 view2(layout, base, p + "attn.c_proj.weight"), view1(layout, base, p + "attn.c_proj.bias"),
                 view1(layout, base, p + "ln_2.weight"), view1(layout, base, p + "ln_2.bias"),
                 view2(layout, base, p + "mlp.c_fc.weight"), view1(layout, base, p + "mlp.c_fc.bias"),
                 view2(layout, base, p + "mlp.c_proj.weight"), view1(layout, base, p + "mlp.c_proj.bias")});
  }
}

template <class T>
GPT2<T>::GPT2(const GPT2Config& config, Gradients gradients)
    : config_((config.validate(), config)),
      layout_(config),
      params("params", layout_.size()),
      grads("grads", gradients == Gradients::kept ? layout_.size() : 0),
      weights_(layout_, params.data(), config.n_layer) {
  if (gradients == Gradients::kept) grad_tensors_.emplace(layout_, grads.data(), config.n_layer);
#if defined(SK_HAVE_ONEDNN)
  if constexpr (std::is_same<T, float>::value)
    if (kblas::gemm_precision() == kblas::GemmPrecision::bf16)
      gemm_weights_ = std::make_shared<onednn::Bf16Copy>(params.data(), params.extent(0));
#endif
}

template <class T>
std::size_t GPT2<T>::gemm_weights_bytes() const {
#if defined(SK_HAVE_ONEDNN)
  if (gemm_weights_) return static_cast<const onednn::Bf16Copy*>(gemm_weights_.get())->bytes();
#endif
  return 0;
}

// One conversion per change of the weights, not one per gemm.
template <class T>
void GPT2<T>::sync_gemm_weights() {
  if (!gemm_weights_stale_) return;
#if defined(SK_HAVE_ONEDNN)
  if (gemm_weights_) {
    Kokkos::fence();  // params written by kernels before the host reads them
    Kokkos::Profiling::pushRegion("bf16_weights_copy");  // named in bench --breakdown
    static_cast<onednn::Bf16Copy*>(gemm_weights_.get())->refresh();
    Kokkos::Profiling::popRegion();
  }
#endif
  gemm_weights_stale_ = false;
}

template <class T>
ModelTensors<T>& GPT2<T>::grad_tensors() {
  if (!grad_tensors_) throw Error("a model built for inference (no gradients) was asked for a gradient");
  return *grad_tensors_;
}

template <class T>
void GPT2<T>::init_random(std::uint64_t seed) {
  // Drawn on the host from a fixed generator and Box-Muller, so the same seed
  // gives the same weights with every compiler, library and backend.
  std::mt19937_64 rng(seed);
  auto normal = [&rng]() { return standard_normal(rng); };
  auto host = Kokkos::create_mirror_view(params);
  Kokkos::deep_copy(host, T(0));
  const double proj_std = 0.02 / std::sqrt(2.0 * config_.n_layer);
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (const auto& t : layout_.tensors()) {
    const bool layernorm = t.name.find(".ln_") != std::string::npos;
    if (t.shape.size() == 1) {  // biases 0, LayerNorm weights 1
      if (layernorm && ends_with(t.name, ".weight"))
        for (std::size_t i = 0; i < t.size(); ++i) host(t.offset + i) = T(1);
      continue;
    }
    const double std = ends_with(t.name, "c_proj.weight") ? proj_std : 0.02;
    std::size_t n = t.stored[0] * t.shape[1];  // wte's padding rows stay zero
    for (std::size_t i = 0; i < n; ++i) host(t.offset + i) = T(std * normal());
  }
  Kokkos::deep_copy(params, host);
}

// Rows per chunk of the LM head (kernels/lm_head.hpp). Its memory is
// kHeadChunkRows x padded vocab floats, 206 MB for GPT-2's vocabulary, whatever
// B*T. On the 2-core machine 1024 rows ran the quick-start step at 0.78 of the
// gemm rate against 0.77 for 512 and 0.75 for 256 (bench, medians of 3): the
// weight gradient's gemm sums over the chunk's rows, and short sums run slower.
// Where the gemms run in bf16 the chunk has half the rows, so that its logits
// and their gradient's bf16 copy (kblas::ConvertOnce) take 3/4 of fp32's.
constexpr std::size_t kHeadChunkRows = 1024;

std::size_t head_chunk_rows(std::size_t BT) {
  const std::size_t rows = kblas::gemm_precision() == kblas::GemmPrecision::bf16 ? kHeadChunkRows / 2 : kHeadChunkRows;
  return BT < rows ? BT : rows;
}

std::size_t activation_buffer_elements(const GPT2Config& config, int B, int seq) {
  const std::size_t BT = std::size_t(B) * seq, C = config.n_embd, NH = config.n_head;
  const std::size_t Vp = config.padded_vocab(), L = config.n_layer, R = head_chunk_rows(BT);
  const std::size_t per_block = 16 * BT * C + NH * BT + 4 * BT;
  const std::size_t scratch = 9 * BT * C + BT;
  return 4 * BT * C + R * Vp + 3 * BT + L * per_block + scratch;
}

template <class T>
std::size_t GPT2<T>::lm_head_bytes(int B, int seq) const {
  return head_chunk_rows(std::size_t(B) * seq) * config_.padded_vocab() * sizeof(T);
}

template <class T>
void allocate_activations(Activations<T>& acts, const GPT2Config& config, int B, int seq) {
  const std::size_t BT = std::size_t(B) * seq, C = config.n_embd, NH = config.n_head;
  const std::size_t Vp = config.padded_vocab(), L = config.n_layer, R = head_chunk_rows(BT);
  const std::size_t total = activation_buffer_elements(config, B, seq);
  acts = Activations<T>();
  acts.batch = B;
  acts.seq = seq;
  acts.buffer = View1<T>(Kokkos::view_alloc("activations", Kokkos::WithoutInitializing), total);
  T* next = acts.buffer.data();
  auto take2 = [&next](std::size_t rows, std::size_t cols) {
    Tensor2<T> t(next, rows, cols);
    next += rows * cols;
    return t;
  };
  auto take1 = [&next](std::size_t n) {
    Tensor1<T> t(next, n);
    next += n;
    return t;
  };
  acts.encoded = take2(BT, C);
  acts.proj = take2(BT, C);
  acts.ln_f = take2(BT, C);
  acts.dresidual = take2(BT, C);
  acts.head_logits = take2(R, Vp);
  acts.ln_f_mean = take1(BT);
  acts.ln_f_rstd = take1(BT);
  acts.losses = take1(BT);
  for (std::size_t l = 0; l < L; ++l) {
    typename Activations<T>::Block b;
    b.ln_1 = take2(BT, C);
    b.atty = take2(BT, C);
    b.residual_2 = take2(BT, C);
    b.qkv = take2(BT, 3 * C);
    b.ln_2 = take2(BT, C);
    b.residual_3 = take2(BT, C);
    b.fch = take2(BT, 4 * C);
    b.fch_gelu = take2(BT, 4 * C);
    b.att_lse = take1(NH * BT);
    b.ln_1_mean = take1(BT);
    b.ln_1_rstd = take1(BT);
    b.ln_2_mean = take1(BT);
    b.ln_2_rstd = take1(BT);
    acts.h.push_back(b);
  }
  acts.dln = take2(BT, C);
  acts.datty = take2(BT, C);
  acts.dqkv = take2(BT, 3 * C);
  acts.dfch = take2(BT, 4 * C);
  acts.ones = take1(BT);
  if (next != acts.buffer.data() + total) throw std::logic_error("activation buffer size does not match its layout");
  Kokkos::deep_copy(acts.ones, T(1));
  acts.column_partials = View1<T>(Kokkos::view_alloc("column_partials", Kokkos::WithoutInitializing),
                                 column_partials_size(int(BT), int(C), 2));
  acts.token_scratch = Kokkos::View<int*, MemSpace>(Kokkos::view_alloc("token_scratch", Kokkos::WithoutInitializing),
                                                  encoder_backward_scratch_size(int(Vp), int(BT)));
  const AttentionShape shape{B, seq, int(NH), int(C / NH)};
  acts.attention_scratch =
      View1<T>(Kokkos::view_alloc("attention_scratch", Kokkos::WithoutInitializing), attention_scratch_size(shape));
}

template <class T>
void GPT2<T>::ensure_activations(int B, int seq) {
  if (acts_.batch == B && acts_.seq == seq) return;
  allocate_activations(acts_, config_, B, seq);
}

template <class T>
void GPT2<T>::trunk_forward(TokenView inputs) {
  const int B = inputs.extent(0), seq = inputs.extent(1);
  const int C = config_.n_embd, NH = config_.n_head;
  ensure_activations(B, seq);
  sync_gemm_weights();
  inputs_ = inputs;
  const AttentionShape shape{B, seq, NH, C / NH};
  const Tensor1<T> att_scratch(acts_.attention_scratch.data(), acts_.attention_scratch.extent(0));

  encoder_forward<T>(acts_.encoded, inputs, weights_.wte, Kokkos::subview(weights_.wpe, std::make_pair(0, seq), Kokkos::ALL));
  Tensor2<T> x = acts_.encoded;  // the residual stream entering each block
  for (int l = 0; l < config_.n_layer; ++l) {
    const auto& w = weights_.h[l];
    auto& a = acts_.h[l];
    layernorm_forward<T>(a.ln_1, a.ln_1_mean, a.ln_1_rstd, x, w.ln_1_w, w.ln_1_b);
    matmul_forward<T>(a.qkv, a.ln_1, w.attn_w, w.attn_b);
    attention_forward<T>(a.atty, a.att_lse, att_scratch, a.qkv, shape);
    matmul_forward<T>(acts_.proj, a.atty, w.attn_proj_w, w.attn_proj_b);
    residual_forward<T>(a.residual_2, x, acts_.proj);
    layernorm_forward<T>(a.ln_2, a.ln_2_mean, a.ln_2_rstd, a.residual_2, w.ln_2_w, w.ln_2_b);
    matmul_forward<T>(a.fch, a.ln_2, w.fc_w, w.fc_b);
    gelu_forward<T>(a.fch_gelu, a.fch);
    matmul_forward<T>(acts_.proj, a.fch_gelu, w.mlp_proj_w, w.mlp_proj_b);
    residual_forward<T>(a.residual_3, a.residual_2, acts_.proj);
    x = a.residual_3;
  }
  layernorm_forward<T>(acts_.ln_f, acts_.ln_f_mean, acts_.ln_f_rstd, x, weights_.ln_f_w, weights_.ln_f_b);
}

template <class T>
T GPT2<T>::evaluate(TokenView inputs, TokenView targets) {
  trunk_forward(inputs);
  lm_head_forward<T>(acts_.losses, acts_.head_logits, acts_.ln_f, weights_.wte, row_tokens(targets, 0, acts_.batch * acts_.seq),
                     config_.vocab_size);
  return mean_loss<T>(acts_.losses, acts_.column_partials.data());
}

template <class T>
void GPT2<T>::next_logits(TokenView inputs, Tensor2<T> out) {
  trunk_forward(inputs);
  const int C = config_.n_embd, Vp = out.extent(1);
  for (int b = 0; b < acts_.batch; ++b) {
    const ConstTensor2<T> last(acts_.ln_f.data() + (std::size_t(b) * acts_.seq + acts_.seq - 1) * C, 1, C);
    kblas::gemm(ExecSpace(), "N", "T", T(1), last, weights_.wte, T(0), Tensor2<T>(out.data() + std::size_t(b) * Vp, 1, Vp));
  }
}

// The LM head runs with its backward (kernels/lm_head.hpp): mean loss, so
// dloss = 1/(B*T); ln_f's output gradient goes to dln for the backward pass.
template <class T>
T GPT2<T>::forward(TokenView inputs, TokenView targets) {
  trunk_forward(inputs);
  const int N = acts_.batch * acts_.seq;
  lm_head_forward_backward<T>(acts_.losses, acts_.dln, grad_tensors().wte, acts_.head_logits, acts_.ln_f, weights_.wte, row_tokens(targets, 0, N),
                              config_.vocab_size, T(1) / T(N));
  return mean_loss<T>(acts_.losses, acts_.column_partials.data());
}

template <class T>
T GPT2<T>::forward(TokenView inputs, TokenView targets, const SampledLabels& sampled) {
  trunk_forward(inputs);
  const int N = acts_.batch * acts_.seq, V = config_.vocab_size;
  if (acts_.sample_sums.extent(0) < acts_.head_logits.extent(0))
    acts_.sample_sums = SampleSums(Kokkos::view_alloc("sample_sums", Kokkos::WithoutInitializing),
                                acts_.head_logits.extent(0), sample_chunks(V));
  const SampleSums sums = acts_.sample_sums;
  lm_head_forward_backward<T>(acts_.losses, acts_.dln, grad_tensors().wte, acts_.head_logits, acts_.ln_f, weights_.wte, row_tokens(targets, 0, N),
                              V, T(1) / T(N), [&sampled, V, sums](int n0, int n, ConstTensor2<T> probs) {
                                sample_labels<T>(sampled.labels, probs, sampled.sequences, V, sampled.key, sums, n0);
                                return RowTokens(sampled.labels.data() + n0, n);
                              });
  return mean_loss<T>(acts_.losses, acts_.column_partials.data());
}

template <class T>
void GPT2<T>::backward(const GradientsReady& ready) {
  const int B = acts_.batch, seq = acts_.seq;
  const int C = config_.n_embd, NH = config_.n_head;
  const AttentionShape shape{B, seq, NH, C / NH};
  const Tensor1<T> att_scratch(acts_.attention_scratch.data(), acts_.attention_scratch.extent(0));
  const auto ones = acts_.ones;
  auto dres = acts_.dresidual;  // gradient of the residual stream, carried down
  const Tensor1<T> partials(acts_.column_partials.data(), acts_.column_partials.extent(0));

  // The LM head's backward ran in the forward: dln holds ln_f's output gradient.
  Kokkos::deep_copy(dres, T(0));
  const Tensor2<T> x_last = acts_.h.back().residual_3;  // n_layer >= 1 (GPT2Config::validate)
  layernorm_backward<T>(dres, grad_tensors().ln_f_w, grad_tensors().ln_f_b, acts_.dln, x_last, weights_.ln_f_w, acts_.ln_f_mean, acts_.ln_f_rstd,
                        partials);
  if (ready) ready(layout_.find("transformer.ln_f.weight").offset);

  for (int l = config_.n_layer - 1; l >= 0; --l) {
    const auto& w = weights_.h[l];
    const auto& dw = grad_tensors().h[l];
    const auto& a = acts_.h[l];
    const Tensor2<T> x = l > 0 ? acts_.h[l - 1].residual_3 : acts_.encoded;
    // MLP branch: residual_3 = residual_2 + mlp_proj(gelu(fc(ln_2(residual_2))))
    matmul_backward<T>(acts_.dfch, dw.mlp_proj_w, dw.mlp_proj_b, dres, a.fch_gelu, w.mlp_proj_w, ones);
    gelu_backward<T>(acts_.dfch, a.fch, acts_.dfch);
    matmul_backward<T>(acts_.dln, dw.fc_w, dw.fc_b, acts_.dfch, a.ln_2, w.fc_w, ones);
    layernorm_backward<T>(dres, dw.ln_2_w, dw.ln_2_b, acts_.dln, a.residual_2, w.ln_2_w, a.ln_2_mean, a.ln_2_rstd,
                          partials);
    // Attention branch: residual_2 = x + attn_proj(attention(c_attn(ln_1(x))))
    matmul_backward<T>(acts_.datty, dw.attn_proj_w, dw.attn_proj_b, dres, a.atty, w.attn_proj_w, ones);
    attention_backward<T>(acts_.dqkv, att_scratch, acts_.datty, a.qkv, a.atty, a.att_lse, shape);
    matmul_backward<T>(acts_.dln, dw.attn_w, dw.attn_b, acts_.dqkv, a.ln_1, w.attn_w, ones);
    layernorm_backward<T>(dres, dw.ln_1_w, dw.ln_1_b, acts_.dln, x, w.ln_1_w, a.ln_1_mean, a.ln_1_rstd, partials);
    if (ready) ready(layout_.find("transformer.h." + std::to_string(l) + ".ln_1.weight").offset);
  }
  encoder_backward<T>(grad_tensors().wte, Kokkos::subview(grad_tensors().wpe, std::make_pair(0, seq), Kokkos::ALL), dres, inputs_,
                      acts_.token_scratch);
  if (ready) ready(0);
}

template <class T>
void GPT2<T>::zero_grad() {
  Kokkos::deep_copy(grads, T(0));
}

template <class T>
std::string GPT2<T>::nonfinite_origin() const {
  for (const auto& t : layout_.tensors())
    if (count_nonfinite(params.data() + t.offset, t.size()) > 0) return "the parameter " + t.name;
  if (acts_.batch == 0) return "";
  auto bad = [](const auto& view) { return count_nonfinite(view.data(), view.size()) > 0; };
  if (bad(acts_.encoded)) return "the embeddings' output (wte + wpe)";
  for (int l = 0; l < config_.n_layer; ++l) {
    const auto& a = acts_.h[l];
    const std::string h = "h." + std::to_string(l);
    const std::pair<const Tensor2<T>*, std::string> order[] = {
        {&a.ln_1, h + ".ln_1"},           {&a.qkv, h + ".attn.c_attn"},   {&a.atty, h + ".attn (attention)"},
        {&a.residual_2, h + ".attn.c_proj plus the residual"},         {&a.ln_2, h + ".ln_2"},
        {&a.fch, h + ".mlp.c_fc"},        {&a.fch_gelu, h + ".mlp (GELU)"},
        {&a.residual_3, h + ".mlp.c_proj plus the residual"}};
    for (const auto& [view, name] : order)
      if (bad(*view)) return "the output of " + name;
  }
  if (bad(acts_.ln_f)) return "the output of ln_f";
  if (bad(acts_.losses)) return "the LM head's logits (lm_head)";
  return "";
}

template void allocate_activations<float>(Activations<float>&, const GPT2Config&, int, int);
template void allocate_activations<double>(Activations<double>&, const GPT2Config&, int, int);
template class GPT2<float>;
template class GPT2<double>;
template struct ModelTensors<float>;
template struct ModelTensors<double>;

}  // namespace sk
