// sophia-kokkos train: pretrain GPT-2 as an input deck says.
#include <cstdio>

#include "commands.hpp"
#include "deck.hpp"
#include "error.hpp"
#include "train.hpp"

namespace sk {

int cmd_train(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("train",
               "Pretrains GPT-2 with Sophia-G or AdamW on token shards, as the input deck (TOML) says.\n"
               "Writes the resolved deck, metrics (JSON lines), checkpoints and final weights (HDF5) to\n"
               "output.dir. Exit codes: 0 done, 1 error, 2 bad command line, 74 a checkpoint could not be\n"
               "written, 75 stopped by SIGTERM/SIGINT/SIGUSR1 after saving a checkpoint (requeue and resume).\n\n"
               "deck keys (section.key = default):\n" +
                   Deck::reference());
  opts.add("--config", "FILE.toml", "the input deck");
  opts.add_list("--set", "KEY=VALUE", "override a deck key, e.g. --set optimizer.lr=3e-4");
  opts.add("--init-from", "WEIGHTS.h5", "start from these weights instead of a random initialisation");
  opts.add("--resume", "auto|CKPT.h5", "continue from the newest valid checkpoint in output.dir, or from this one");
  if (!opts.parse(argc, argv, 2)) {
    if (mpi.rank() == 0) std::fputs(opts.help().c_str(), stdout);
    return 0;
  }
  if (!opts.has("--config") && opts.list("--set").empty())
    throw UsageError("train: give a deck with --config FILE.toml (and/or --set key=value)");
  const Deck deck = Deck::load(opts.has("--config") ? opts.str("--config") : "", opts.list("--set"));
  const TrainConfig config = TrainConfig::from(deck);
  TrainOptions options;
  if (opts.has("--init-from")) options.init_from = opts.str("--init-from");
  if (opts.has("--resume")) options.resume = opts.str("--resume");
  return train(config, deck, options, mpi);
}

}  // namespace sk
