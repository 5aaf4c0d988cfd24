#include "config.hpp"

#include "error.hpp"

namespace sk {

void GPT2Config::validate() const {
  auto positive = [](const char* name, int v) {
    if (v <= 0) throw Error(std::string("model: ") + name + " must be positive, got " + std::to_string(v));
  };
  for (const ModelField& f : model_fields) positive(f.name, this->*f.member);
  if (vocab_size > max_vocab)
    throw Error("model: vocab_size " + std::to_string(vocab_size) + " exceeds " + std::to_string(max_vocab) +
                ", the range of uint16 token files");
  // The deck's limits ([model] in src/core/deck.cpp), also for shapes read from files.
  auto at_most = [](const char* name, int v, int max) {
    if (v > max) throw Error(std::string("model: ") + name + " " + std::to_string(v) + " exceeds " + std::to_string(max));
  };
  for (const ModelField& f : model_fields) at_most(f.name, this->*f.member, f.max);
  if (n_embd % n_head != 0)
    throw Error("model: n_embd (" + std::to_string(n_embd) + ") is not divisible by n_head (" +
                std::to_string(n_head) + ")");
}

namespace {
struct Preset {
  const char* name;
  GPT2Config config;
};
const Preset presets[] = {
    {"tiny", {50257, 64, 2, 4, 64}},
    {"gpt2", {50257, 1024, 12, 12, 768}},
    {"gpt2-medium", {50257, 1024, 24, 16, 1024}},
    {"gpt2-large", {50257, 1024, 36, 20, 1280}},
    {"gpt2-xl", {50257, 1024, 48, 25, 1600}},
};
}  // namespace

GPT2Config preset(const std::string& name) {
  for (const auto& p : presets)
    if (name == p.name) return p.config;
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model preset '" + name + "' (known: " + known + ")");
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : presets) names.push_back(p.name);
  return names;
}

}  // namespace sk
