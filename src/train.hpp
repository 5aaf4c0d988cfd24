// The training loop of `sophia-kokkos train`.
#pragma once
#include <string>

#include "deck.hpp"
#include "mpi_env.hpp"

namespace sk {

struct TrainOptions {
  std::string init_from;  // weights file to start from; empty: random initialisation
};

// Trains as the deck says and writes into config.output_dir: config.toml (the
// resolved deck), metrics.jsonl and final.h5 (weights). Returns the last
// validation loss (NaN without validation data).
double train(const TrainConfig& config, const Deck& deck, const TrainOptions& options, const MpiEnv& mpi);

}  // namespace sk
