#include "commands.hpp"

namespace sk {

namespace {
struct Override {
  const char* option;
  int GPT2Config::*field;
};
const Override overrides[] = {
    {"--vocab-size", &GPT2Config::vocab_size}, {"--block-size", &GPT2Config::block_size},
    {"--n-layer", &GPT2Config::n_layer},       {"--n-head", &GPT2Config::n_head},
    {"--n-embd", &GPT2Config::n_embd},
};
}  // namespace

void add_model_options(Options& opts, const std::string& default_preset) {
  std::string names;
  for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  opts.add("--model", "PRESET", "model shape: " + names, default_preset);
  for (const auto& o : overrides) opts.add(o.option, "N", std::string("override the preset's ") + (o.option + 2));
}

GPT2Config model_config(const Options& opts) {
  GPT2Config c = preset(opts.str("--model"));
  for (const auto& o : overrides)
    if (opts.has(o.option)) c.*o.field = int(opts.integer(o.option, 1, 1 << 30));
  c.validate();
  return c;
}

}  // namespace sk
