// This rank's rows of a step's micro-batches, and the mean loss over the
// first micro-batches of a data set: the validation loss of `train` and the
// loss of `sophia-kokkos evaluate`, computed alike.
#pragma once
#include <cstdint>
#include <vector>

#include "data.hpp"
#include "gpt2.hpp"
#include "mpi_env.hpp"

namespace sk {

// This rank's rows of micro-batches, loaded into `out` (out.micro_batches()
// of them): micro-batch m covers the global sequences first + m*B ..
// first + m*B + B-1, and rank r of R takes B/R of them in order.
const std::vector<SequenceBatch>& rank_batches(StepBatches& out, const TokenShards& shards, const DataOrder& order,
                                               std::uint64_t first, int B, const MpiEnv& mpi);

// Mean loss over the first out.micro_batches() micro-batches of B sequences
// (over all ranks) of `data`, its windows in file order. Collective.
double mean_loss(GPT2<float>& model, const TokenShards& data, StepBatches& out, int B, const MpiEnv& mpi);

}  // namespace sk
