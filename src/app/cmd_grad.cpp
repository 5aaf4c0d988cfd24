// sophia-kokkos grad: loss and gradients of one batch, written to HDF5.
#include <cstdio>

#include "memory.hpp"
#include "tokens.hpp"
#include "weights.hpp"
#include "batch.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "gpt2.hpp"
#include "model_weights.hpp"

namespace sk {

int cmd_grad(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("grad",
               "Runs GPT-2's forward and backward pass on the first B*T+1 tokens of a token file and\n"
               "writes the mean loss (/loss) and every parameter's gradient (/grad/<name>) to HDF5.");
  opts.add("--weights", "PATH", "weights file, checkpoint or Hugging Face folder to load (or use --init)");
  opts.add_flag("--init", "start from GPT-2's random initialisation instead of --weights");
  add_model_options(opts, "tiny");
  opts.add("--seed", "N", "seed of the random initialisation", "1337");
  opts.add("--save-weights", "FILE.h5", "with --init: also write the initial weights here");
  opts.add("--data", "TOKENS.bin", "token file (llm.c format)");
  opts.add("--batch", "B", "batch size", "4");
  opts.add("--seq", "T", "sequence length (at most the model's block_size)", "64");
  opts.add("--out", "FILE.h5", "where to write the loss and gradients");
  add_precision_option(opts);
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  use_precision_option(opts, "grad");
  const bool init = opts.flag("--init");
  if (init == opts.has("--weights")) throw UsageError("grad: give exactly one of --weights FILE and --init");
  if (!init && opts.has("--save-weights")) throw UsageError("grad: --save-weights goes with --init");
  const std::string data = opts.str("--data"), out = opts.str("--out");
  std::vector<FileArg> inputs{{"--data", data}}, outputs{{"--out", out}};
  if (!init) inputs.push_back({"--weights", opts.str("--weights")});
  if (opts.has("--save-weights")) outputs.push_back({"--save-weights", opts.str("--save-weights")});
  refuse_clobbering("grad", outputs, inputs);
  const int B = int(opts.integer("--batch", 1, 1 << 20));
  const int T = int(opts.integer("--seq", 1, 1 << 20));

  const GPT2Config config = init ? model_config(opts) : weights_config(opts.str("--weights"));
  if (T > config.block_size)
    throw Error("--seq " + std::to_string(T) + " exceeds the model's block_size " + std::to_string(config.block_size));
  const auto tokens = read_tokens(data, std::size_t(B) * T + 1);
  check_token_range(tokens, config.vocab_size, data);

  require_memory("grad", forward_need(config, B / mpi.size(), T));
  GPT2<float> model(config);
  auto host = Kokkos::create_mirror_view(model.params);
  if (init) {
    model.init_random(std::uint64_t(opts.integer("--seed", 0, LONG_MAX)));
    if (opts.has("--save-weights") && mpi.rank() == 0) {
      Kokkos::deep_copy(host, model.params);
      write_weights(opts.str("--save-weights"), config, model.layout(), host.data());
    }
  } else {
    load_weights(model, opts.str("--weights"));
  }

  const Batch batch = make_batch(tokens, T, B, T);
  model.zero_grad();
  const float loss = model.forward(batch.inputs, batch.targets);
  model.backward();
  if (mpi.rank() == 0) {
    Kokkos::deep_copy(host, model.grads);
    write_gradients(out, config, model.layout(), host.data(), loss);
    std::printf("loss %.7f\n", loss);
  }
  return 0;
}

}  // namespace sk
