#include "evaluate.hpp"

#include "comm.hpp"

namespace sk {

const std::vector<SequenceBatch>& rank_batches(StepBatches& out, const TokenShards& shards, const DataOrder& order,
                                               std::uint64_t first, int B, const MpiEnv& mpi) {
  const std::uint64_t rows = std::uint64_t(B / mpi.size());
  return load_batches(out, shards, order, first + std::uint64_t(mpi.rank()) * rows, std::uint64_t(B));
}

double mean_loss(GPT2<float>& model, const TokenShards& data, StepBatches& out, int B, const MpiEnv& mpi) {
  const DataOrder order(data.windows(), false, 0);
  double sum = 0;
  for (const auto& b : rank_batches(out, data, order, 0, B, mpi)) sum += model.evaluate(b.batch.inputs, b.batch.targets);
  return sum_over_ranks(sum) / (double(out.micro_batches()) * mpi.size());
}

}  // namespace sk
