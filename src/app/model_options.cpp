#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "error.hpp"
#include "gemm_rate.hpp"
#include "tokenizer.hpp"

namespace sk {

bool parse_or_help(Options& opts, int argc, char** argv, const MpiEnv& mpi) {
  if (opts.parse(argc, argv, 2)) return true;
  if (mpi.rank() == 0) std::fputs(opts.help().c_str(), stdout);
  return false;
}

namespace {
// "--n-embd" for the field n_embd.
std::string option_name(const ModelField& f) {
  std::string o = std::string("--") + f.name;
  std::replace(o.begin(), o.end(), '_', '-');
  return o;
}
}  // namespace

void add_tokenizer_option(Options& opts) {
  opts.add("--tokenizer", "DIR",
           "folder with encoder.json and vocab.bpe, or vocab.json and merges.txt (default: $SOPHIA_KOKKOS_TOKENIZER, else data/gpt2)");
}

std::string tokenizer_option(const Options& opts) {
  return tokenizer_dir(opts.has("--tokenizer") ? opts.str("--tokenizer") : "");
}

void add_model_options(Options& opts, const std::string& default_preset) {
  std::string names;
  for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  opts.add("--model", "PRESET", "model shape: " + names, default_preset);
  for (const ModelField& f : model_fields)
    opts.add(option_name(f), "N", "override the preset's " + option_name(f).substr(2));
}

void add_precision_option(Options& opts) {
  opts.add("--precision", "P", "precision of the gemms' inputs: fp32, or bf16 with fp32 accumulation, as train.precision",
           "fp32");
}

void use_precision_option(const Options& opts, const std::string& command) {
  const Precision p = opts.choice<Precision>("--precision");
  if (const std::string missing = use_gemm_precision(p); !missing.empty())
    throw Error(command + ": --precision " + name_of(p) + ": " + missing);
}

GPT2Config model_config(const Options& opts) {
  GPT2Config c = preset(opts.str("--model"));
  for (const ModelField& f : model_fields)
    if (opts.has(option_name(f))) c.*f.member = int(opts.integer(option_name(f), 1, 1 << 30));
  c.validate();
  return c;
}

}  // namespace sk
