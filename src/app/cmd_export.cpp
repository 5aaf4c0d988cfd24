// sophia-kokkos export: one of our HDF5 weights files as a Hugging Face GPT-2
// checkpoint (model.safetensors + config.json, and GPT-2's tokenizer files;
// io/hf_gpt2.hpp).
#include <cstdio>
#include <vector>

#include "commands.hpp"
#include "hf_gpt2.hpp"
#include "tokenizer.hpp"
#include "weights.hpp"

namespace sk {

int cmd_export(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("export",
               "Writes a weights file as a Hugging Face GPT-2 checkpoint: FOLDER/model.safetensors (F32)\n"
               "and FOLDER/config.json, which transformers' GPT2LMHeadModel.from_pretrained loads, and for a\n"
               "model with GPT-2's vocabulary the tokenizer's files (vocab.json, merges.txt, tokenizer_config.json,\n"
               "special_tokens_map.json) and generation_config.json, so that GPT2TokenizerFast.from_pretrained\n"
               "loads the folder too.");
  opts.add("--weights", "FILE.h5", "a weights file (final.h5 of a run, or from import) or a checkpoint");
  opts.add("--out", "FOLDER", "the folder to write (created if needed)");
  add_tokenizer_option(opts);
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  const std::string weights = opts.str("--weights"), out = opts.str("--out");
  const GPT2Config config = read_config(weights);
  // GPT-2's vocabulary, possibly padded (50304): its tokenizer goes with it.
  const bool gpt2_vocabulary = config.vocab_size > Gpt2Tokenizer::end_of_text;
  const std::string tokenizer = gpt2_vocabulary ? tokenizer_option(opts) : "";
  if (gpt2_vocabulary) Gpt2Tokenizer check(tokenizer);  // a missing or malformed tokenizer, before writing
  const HFFiles written = hf_gpt2_files(out);
  std::vector<FileArg> outputs = {{"--out", written.config}, {"--out", written.model}};
  if (gpt2_vocabulary)
    for (const auto& f : hf_tokenizer_files(out)) outputs.push_back({"--out", f});
  refuse_clobbering("export", outputs, {{"--weights", weights}});
  const ParameterLayout layout(config);
  std::vector<float> params(layout.size(), 0.0f);
  read_weights(weights, layout, params.data());
  if (mpi.rank() == 0) {
    write_hf_gpt2(out, config, layout, params.data(), tokenizer);
    std::printf("wrote %s and %s%s\n", written.model.c_str(), written.config.c_str(),
                gpt2_vocabulary ? ", and GPT-2's tokenizer files"
                                : " (no tokenizer files: the model's vocabulary is not GPT-2's)");
  }
  return 0;
}

}  // namespace sk
