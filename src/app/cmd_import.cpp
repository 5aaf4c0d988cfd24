// sophia-kokkos import: a Hugging Face GPT-2 checkpoint (model.safetensors +
// config.json; io/hf_gpt2.hpp) into one of our HDF5 weights files.
#include <cstdio>

#include "commands.hpp"
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
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
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

}  // namespace sk
