// The training loop of `sophia-kokkos train`.
#pragma once
#include <string>

#include "deck.hpp"
#include "mpi_env.hpp"

namespace sk {

struct TrainOptions {
  std::string init_from;  // weights file to start from; empty: random initialisation
  std::string resume;     // overrides checkpoint.resume when not empty
  bool overwrite = false; // may replace another run's output in output.dir (checkpoint_policy.hpp)
};

// Makes SIGTERM, SIGINT and SIGUSR1 (Slurm's warning before a time limit) stop
// training after the current step with a checkpoint and exit code 75. main()
// calls it first thing for `train`: a warning that arrives while MPI, Kokkos,
// the data or the model start up must not kill the run (SIGUSR1's default).
void catch_stop_signals();

// Trains as the deck says and writes into config.output_dir: config.toml (the
// resolved deck), metrics.jsonl, checkpoints (ckpt_<step>.h5 and `latest`) and
// final.h5 (weights). Returns the exit code: 0, or exit_checkpointed_requeue /
// exit_checkpoint_failed (checkpoint_policy.hpp).
int train(const TrainConfig& config, const Deck& deck, const TrainOptions& options, const MpiEnv& mpi);

}  // namespace sk
