// sophia-kokkos evaluate: mean loss and perplexity of weights on token shards.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "error.hpp"
#include "evaluate.hpp"
#include "memory.hpp"
#include "model_weights.hpp"
#include "tokenizer.hpp"
#include "weights.hpp"

namespace sk {

namespace {

// The tokens of --text as prepare would shard the file (one document after
// <|endoftext|>), held in memory, or the token shards of --data.
std::unique_ptr<TokenShards> evaluation_data(const Options& opts, const GPT2Config& config, int T) {
  if (opts.has("--text") == opts.has("--data"))
    throw UsageError("evaluate: give one of --data (token shards) and --text (a UTF-8 text file)");
  if (opts.has("--data")) return std::make_unique<TokenShards>(opts.str("--data"), T, config.vocab_size);
  const std::string path = opts.str("--text"), text = utf8_text_file(path, "text file");
  if (config.vocab_size <= Gpt2Tokenizer::end_of_text)
    throw Error("evaluate --text tokenizes with GPT-2's vocabulary, which the model's (vocab_size " +
                std::to_string(config.vocab_size) + ") is smaller than: give --data");
  Gpt2Tokenizer tokenizer(tokenizer_option(opts));
  const std::vector<int> ids = tokenizer.encode_document(text);
  return std::make_unique<TokenShards>(path, std::vector<std::uint16_t>(ids.begin(), ids.end()), T, config.vocab_size);
}

}  // namespace

int cmd_evaluate(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("evaluate",
               "Mean loss and perplexity of a weights file over the first BATCHES micro-batches of B\n"
               "windows of T+1 tokens, in file order: with the deck's batch_size, seq_len and\n"
               "eval_batches, the validation loss `train` reports for the same weights and data. With\n"
               "--text, the data is a UTF-8 text file tokenized as `prepare` tokenizes one document.\n"
               "Under mpiexec the ranks share each micro-batch.");
  opts.add("--weights", "PATH", "a weights file (final.h5 of a run, or from import), a checkpoint, or a Hugging Face folder");
  opts.add("--data", "'SHARDS*.bin'", "token shards (a path or a quoted glob)");
  opts.add("--text", "FILE", "a UTF-8 text file instead, tokenized with GPT-2's tokenizer");
  opts.add("--batches", "N", "micro-batches to average over, or 'all': every whole one (default 10; --text: all)");
  opts.add("--batch", "B", "sequences per micro-batch, over all ranks", "8");
  add_tokenizer_option(opts);
  add_precision_option(opts);
  opts.add("--seq", "T", "sequence length (default: the model's block_size)");
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  use_precision_option(opts, "evaluate");
  const std::string weights = opts.str("--weights");
  const int B = int(opts.integer("--batch", 1, 1 << 20));
  const GPT2Config config = weights_config(weights);
  const int T = opts.has("--seq") ? int(opts.integer("--seq", 1, 1 << 20)) : config.block_size;
  if (T > config.block_size)
    throw Error("--seq " + std::to_string(T) + " exceeds the model's block_size " + std::to_string(config.block_size));
  if (B % mpi.size() != 0)
    throw UsageError("evaluate: --batch " + std::to_string(B) + " is not divisible by the " + std::to_string(mpi.size()) +
                     " ranks");
  const std::unique_ptr<TokenShards> source = evaluation_data(opts, config, T);
  const TokenShards& shards = *source;
  const std::string data = shards.pattern();
  const bool all = opts.has("--batches") ? opts.str("--batches") == "all" : opts.has("--text");
  if (all && shards.windows() < std::uint64_t(B))
    throw Error(data + " holds " + std::to_string(shards.windows()) + " windows of " + std::to_string(T) +
                "+1 tokens, fewer than one micro-batch of --batch " + std::to_string(B));
  const int batches = all ? int(std::min<std::uint64_t>(shards.windows() / B, 1 << 20))
                          : opts.has("--batches") ? int(opts.integer("--batches", 1, 1 << 20)) : 10;
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
