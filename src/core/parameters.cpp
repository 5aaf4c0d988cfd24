#include "parameters.hpp"

#include "error.hpp"

namespace sk {

namespace {
std::size_t product(const std::vector<std::size_t>& dims) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}
}  // namespace

std::string shape_string(const std::vector<std::size_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::size_t TensorSpec::size() const { return product(shape); }
std::size_t TensorSpec::stored_size() const { return product(stored); }

ParameterLayout::ParameterLayout(const GPT2Config& cfg) {
  const std::size_t C = cfg.n_embd;
  auto add = [&](std::string name, std::vector<std::size_t> shape) {
    TensorSpec s{std::move(name), shape, shape, size_};
    size_ += s.size();
    tensors_.push_back(std::move(s));
  };
  add("transformer.wte.weight", {std::size_t(cfg.padded_vocab()), C});
  tensors_.back().stored[0] = cfg.vocab_size;
  add("transformer.wpe.weight", {std::size_t(cfg.block_size), C});
  // Layer by layer, so that one layer's gradients are contiguous: the backward
  // pass finishes them together, top layer first.
  for (int l = 0; l < cfg.n_layer; ++l) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    add(p + "ln_1.weight", {C});
    add(p + "ln_1.bias", {C});
    add(p + "attn.c_attn.weight", {3 * C, C});
    add(p + "attn.c_attn.bias", {3 * C});
    add(p + "attn.c_proj.weight", {C, C});
    add(p + "attn.c_proj.bias", {C});
    add(p + "ln_2.weight", {C});
    add(p + "ln_2.bias", {C});
    add(p + "mlp.c_fc.weight", {4 * C, C});
    add(p + "mlp.c_fc.bias", {4 * C});
    add(p + "mlp.c_proj.weight", {C, 4 * C});
    add(p + "mlp.c_proj.bias", {C});
  }
  add("transformer.ln_f.weight", {C});
  add("transformer.ln_f.bias", {C});
}

std::size_t ParameterLayout::stored_count() const {
  std::size_t n = 0;
  for (const auto& t : tensors_) {
    std::size_t k = 1;
    for (auto d : t.stored) k *= d;
    n += k;
  }
  return n;
}

const TensorSpec& ParameterLayout::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  throw Error("no parameter named " + name);
}

bool ParameterLayout::contains(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return true;
  return false;
}

}  // namespace sk
