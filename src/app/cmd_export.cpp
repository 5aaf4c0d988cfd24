// sophia-kokkos export: one of our HDF5 weights files as a Hugging Face GPT-2
// checkpoint (model.safetensors + config.json; io/hf_gpt2.hpp).
#include <cstdio>
#include <vector>

#include "commands.hpp"
#include "hf_gpt2.hpp"
#include "weights.hpp"

namespace sk {

int cmd_export(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("export",
               "Writes a weights file as a Hugging Face GPT-2 checkpoint: FOLDER/model.safetensors (F32)\n"
               "and FOLDER/config.json, which transformers' GPT2LMHeadModel.from_pretrained loads.");
  opts.add("--weights", "FILE.h5", "a weights file (final.h5 of a run, or from import) or a checkpoint");
  opts.add("--out", "FOLDER", "the folder to write (created if needed)");
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
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
