// sophia-kokkos evaluate: mean loss and perplexity of weights on token shards.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "commands.hpp"
#include "error.hpp"
#include "evaluate.hpp"
#include "memory.hpp"
#include "model_weights.hpp"
#include "weights.hpp"

namespace sk {

int cmd_evaluate(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("evaluate",
               "Mean loss and perplexity of a weights file over the first BATCHES micro-batches of B\n"
               "windows of T+1 tokens, in file order: with the deck's batch_size, seq_len and\n"
               "eval_batches, the validation loss `train` reports for the same weights and data.\n"
               "Under mpiexec the ranks share each micro-batch.");
  opts.add("--weights", "PATH", "a weights file (final.h5 of a run, or from import), a checkpoint, or a Hugging Face folder");
  opts.add("--data", "'SHARDS*.bin'", "token shards (a path or a quoted glob)");
  opts.add("--batches", "N", "micro-batches to average over, or 'all': every whole micro-batch in the data", "10");
  opts.add("--batch", "B", "sequences per micro-batch, over all ranks", "8");
  opts.add("--seq", "T", "sequence length (default: the model's block_size)");
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  const std::string weights = opts.str("--weights"), data = opts.str("--data");
  const int B = int(opts.integer("--batch", 1, 1 << 20));
  const GPT2Config config = weights_config(weights);
  const int T = opts.has("--seq") ? int(opts.integer("--seq", 1, 1 << 20)) : config.block_size;
  if (T > config.block_size)
    throw Error("--seq " + std::to_string(T) + " exceeds the model's block_size " + std::to_string(config.block_size));
  if (B % mpi.size() != 0)
    throw UsageError("evaluate: --batch " + std::to_string(B) + " is not divisible by the " + std::to_string(mpi.size()) +
                     " ranks");
  const TokenShards shards(data, T, config.vocab_size);
  const bool all = opts.str("--batches") == "all";
  if (all && shards.windows() < std::uint64_t(B))
    throw Error(data + " holds " + std::to_string(shards.windows()) + " windows of " + std::to_string(T) +
                "+1 tokens, fewer than one micro-batch of --batch " + std::to_string(B));
  const int batches = all ? int(std::min<std::uint64_t>(shards.windows() / B, 1 << 20))
                          : int(opts.integer("--batches", 1, 1 << 20));
  const std::uint64_t needed = std::uint64_t(B) * std::uint64_t(batches);
  if (shards.windows() < needed)
    throw Error(data + " holds " + std::to_string(shards.windows()) + " windows of " + std::to_string(T) +
                "+1 tokens, fewer than the " + std::to_string(needed) + " that --batches x --batch need");

  const double batch_bytes = 4.0 * batches * (B / mpi.size()) * (T + 1) * sizeof(int);  // inputs, targets; host, device
  require_memory("evaluate", inference_need(config, B / mpi.size(), T).add("token batches", batch_bytes));
  GPT2<float> model(config, GPT2<float>::Gradients::none);
  load_weights(model, weights);
  StepBatches buffers(batches, B / mpi.size(), T);
  const double loss = mean_loss(model, shards, buffers, B, mpi);
  if (mpi.rank() == 0)
    std::printf("loss %.6f | perplexity %.3f | %llu windows of %d+1 tokens from %s\n", loss, std::exp(loss),
                static_cast<unsigned long long>(needed), T, data.c_str());
  return 0;
}

}  // namespace sk
