#include "one_batch.hpp"

#include <climits>

#include "error.hpp"
#include "memory.hpp"
#include "model_weights.hpp"
#include "tokens.hpp"
#include "weights.hpp"

namespace sk {

void add_one_batch_options(Options& opts) {
  opts.add("--weights", "PATH", "weights file, checkpoint or Hugging Face folder to load (or use --init)");
  opts.add_flag("--init", "start from GPT-2's random initialisation instead of --weights");
  add_model_options(opts, "tiny");
  opts.add("--seed", "N", "seed of the random initialisation", "1337");
  opts.add("--save-weights", "FILE.h5", "with --init: also write the initial weights here");
  opts.add("--data", "TOKENS.bin", "token file (llm.c format)");
  opts.add("--batch", "B", "batch size", "4");
  opts.add("--seq", "T", "sequence length (at most the model's block_size)", "64");
}

OneBatch load_one_batch(const std::string& command, const Options& opts, const MpiEnv& mpi,
                        const std::vector<FileArg>& extra_inputs, int hvp_vectors) {
  const bool init = opts.flag("--init");
  if (init == opts.has("--weights")) throw UsageError(command + ": give exactly one of --weights FILE and --init");
  if (!init && opts.has("--save-weights")) throw UsageError(command + ": --save-weights goes with --init");
  const std::string data = opts.str("--data"), out = opts.str("--out");
  std::vector<FileArg> inputs{{"--data", data}}, outputs{{"--out", out}};
  inputs.insert(inputs.end(), extra_inputs.begin(), extra_inputs.end());
  if (!init) inputs.push_back({"--weights", opts.str("--weights")});
  if (opts.has("--save-weights")) outputs.push_back({"--save-weights", opts.str("--save-weights")});
  refuse_clobbering(command, outputs, inputs);
  const int B = int(opts.integer("--batch", 1, 1 << 20));
  const int T = int(opts.integer("--seq", 1, 1 << 20));

  const GPT2Config config = init ? model_config(opts) : weights_config(opts.str("--weights"));
  if (T > config.block_size)
    throw Error("--seq " + std::to_string(T) + " exceeds the model's block_size " + std::to_string(config.block_size));
  const auto tokens = read_tokens(data, std::size_t(B) * T + 1);
  check_token_range(tokens, config.vocab_size, data);

  const MemoryNeed need = forward_need(config, B / mpi.size(), T);
  require_memory(command, hvp_vectors > 0 ? with_hvp(need, config, B / mpi.size(), T, hvp_vectors) : need);
  OneBatch one{config, std::make_unique<GPT2<float>>(config), make_batch(tokens, T, B, T), out};
  if (init) {
    one.model->init_random(std::uint64_t(opts.integer("--seed", 0, LONG_MAX)));
    if (opts.has("--save-weights") && mpi.rank() == 0) {
      auto host = Kokkos::create_mirror_view(one.model->params);
      Kokkos::deep_copy(host, one.model->params);
      write_weights(opts.str("--save-weights"), config, one.model->layout(), host.data());
    }
  } else {
    load_weights(*one.model, opts.str("--weights"));
  }
  return one;
}

}  // namespace sk
