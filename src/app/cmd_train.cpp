// sophia-kokkos train: pretrain GPT-2 as an input deck says.
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "deck.hpp"
#include "error.hpp"
#include "train.hpp"

namespace sk {
namespace {

// A run starts from one place: --init-from weights, or a checkpoint that
// --resume or checkpoint.resume names; a resumed run would drop the weights.
void check_start(const TrainOptions& options, const TrainConfig& config) {
  if (options.init_from.empty()) return;
  if (!options.resume.empty())
    throw UsageError("train: --init-from and --resume exclude each other: a resumed run takes its weights from the "
                     "checkpoint; give one of them");
  if (!config.checkpoint.resume.empty())
    throw Error("--init-from conflicts with checkpoint.resume = \"" + config.checkpoint.resume +
                "\" in the deck: a resumed run takes its weights from the checkpoint; set checkpoint.resume = \"\" "
                "or drop --init-from");
}

// What a run writes in output.dir besides its checkpoints, and what it reads:
// none may be the other (the data when named as a path, not a glob).
std::vector<FileArg> train_outputs(const std::string& dir) {
  std::vector<FileArg> out;
  for (const char* name : {"final.h5", "metrics.jsonl", "config.toml"})
    out.push_back({"output.dir", (std::filesystem::path(dir) / name).string()});
  return out;
}
std::vector<FileArg> train_inputs(const Options& opts, const TrainConfig& config) {
  std::vector<FileArg> in;
  if (opts.has("--init-from")) in.push_back({"--init-from", opts.str("--init-from")});
  if (opts.has("--config")) in.push_back({"--config", opts.str("--config")});
  for (const auto& [key, path] : {std::pair{"data.train_data", config.data.train_data}, {"data.val_data", config.data.val_data}})
    if (!path.empty() && path.find_first_of("*?[") == std::string::npos) in.push_back({key, path});
  return in;
}

}  // namespace

int cmd_train(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("train",
               "Pretrains GPT-2 with Sophia-G, Sophia-H or AdamW on token shards as the deck (TOML) says, writing the\n"
               "resolved deck, metrics (JSON lines), checkpoints and weights (HDF5) to output.dir. Exits 0 done, 1 error,\n"
               "2 bad command line, 74 checkpoint not written, 75 signal (requeue, resume), 76 a rank lost (resume).\n\n"
               "deck keys (section.key = default):\n" +
                   Deck::reference());
  opts.add("--config", "FILE.toml", "the input deck");
  opts.add_list("--set", "KEY=VALUE", "override a deck key, e.g. --set optimizer.lr=3e-4");
  opts.add("--init-from", "WEIGHTS", "start from these weights (file, checkpoint or Hugging Face folder), not at random");
  opts.add("--resume", "auto|CKPT.h5", "continue from the newest valid checkpoint in output.dir, or from this one");
  opts.add_flag("--overwrite", "replace another run's metrics, final weights and checkpoints in output.dir");
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  if (!opts.has("--config") && opts.list("--set").empty())
    throw UsageError("train: give a deck with --config FILE.toml (and/or --set key=value)");
  const Deck deck = Deck::load(opts.has("--config") ? opts.str("--config") : "", opts.list("--set"));
  const TrainConfig config = TrainConfig::from(deck);
  TrainOptions options;
  if (opts.has("--init-from")) options.init_from = opts.str("--init-from");
  if (opts.has("--resume")) options.resume = opts.str("--resume");
  options.overwrite = opts.has("--overwrite");
  check_start(options, config);
  refuse_clobbering("train", train_outputs(config.output_dir), train_inputs(opts, config));
  return train(config, deck, options, mpi);
}

}  // namespace sk
