// sophia-kokkos import / export: weights between our HDF5 files and Hugging
// Face GPT-2 checkpoints (model.safetensors + config.json; io/hf_gpt2.hpp).
#include <cstdio>

#include "commands.hpp"
#include "error.hpp"
#include "hf_gpt2.hpp"
#include "weights.hpp"

namespace sk {

int cmd_import(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("import",
               "Converts a Hugging Face GPT-2 checkpoint (a folder with model.safetensors and config.json,\n"
               "as transformers' save_pretrained writes it) into a weights file for --init-from, grad,\n"
               "evaluate and export. Tensors in F32, F16 or BF16; the tied lm_head and the attention's\n"
               "bias buffers are skipped.");
  opts.add("--from", "FOLDER", "the Hugging Face checkpoint (or its model.safetensors)");
  opts.add("--out", "FILE.h5", "the weights file to write");
  if (!opts.parse(argc, argv, 2)) {
    if (mpi.rank() == 0) std::fputs(opts.help().c_str(), stdout);
    return 0;
  }
  const std::string from = opts.str("--from"), out = opts.str("--out");
  const HFFiles in = hf_gpt2_inputs(from);
  refuse_clobbering("import", {{"--out", out}}, {{"--from", in.config}, {"--from", in.model}});
  const HFWeights w = read_hf_gpt2(from);
  const ParameterLayout layout(w.config);
  if (mpi.rank() == 0) {
    write_weights(out, w.config, layout, w.params.data());
    std::printf("wrote %s: %.2fM parameters (vocab_size %d, block_size %d, n_layer %d, n_head %d, n_embd %d)\n",
                out.c_str(), layout.stored_count() / 1e6, w.config.vocab_size, w.config.block_size, w.config.n_layer,
                w.config.n_head, w.config.n_embd);
  }
  return 0;
}

int cmd_export(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("export",
               "Writes a weights file as a Hugging Face GPT-2 checkpoint: FOLDER/model.safetensors (F32)\n"
               "and FOLDER/config.json, which transformers' GPT2LMHeadModel.from_pretrained loads.");
  opts.add("--weights", "FILE.h5", "a weights file (final.h5 of a run, or from import) or a checkpoint");
  opts.add("--out", "FOLDER", "the folder to write (created if needed)");
  if (!opts.parse(argc, argv, 2)) {
    if (mpi.rank() == 0) std::fputs(opts.help().c_str(), stdout);
    return 0;
  }
  const std::string weights = opts.str("--weights"), out = opts.str("--out");
  const HFFiles written = hf_gpt2_files(out);
  refuse_clobbering("export", {{"--out", written.config}, {"--out", written.model}}, {{"--weights", weights}});
  const GPT2Config config = read_config(weights);
  const ParameterLayout layout(config);
  std::vector<float> params(layout.size(), 0.0f);
  read_weights(weights, layout, params.data());
  if (mpi.rank() == 0) {
    write_hf_gpt2(out, config, layout, params.data());
    std::printf("wrote %s and %s\n", written.model.c_str(), written.config.c_str());
  }
  return 0;
}

}  // namespace sk
