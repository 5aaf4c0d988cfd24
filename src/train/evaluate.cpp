#include "evaluate.hpp"

#include <cmath>
#include <string>

#include "comm.hpp"
#include "error.hpp"

namespace sk {

const std::vector<SequenceBatch>& rank_batches(StepBatches& out, const TokenShards& shards, const DataOrder& order,
                                               std::uint64_t first, int B, const MpiEnv& mpi) {
  const std::uint64_t rows = std::uint64_t(B / mpi.size());
  return load_batches(out, shards, order, first + std::uint64_t(mpi.rank()) * rows, std::uint64_t(B));
}

double mean_loss(GPT2<float>& model, const TokenShards& data, StepBatches& out, int B, const MpiEnv& mpi) {
  const DataOrder order(data.windows(), false, 0);
  double sum = 0;
  std::string origin;  // where NaN or inf began in this rank's first bad micro-batch
  for (const auto& b : rank_batches(out, data, order, 0, B, mpi)) {
    const double loss = model.evaluate(b.batch.inputs, b.batch.targets);
    if (!std::isfinite(loss) && origin.empty()) origin = model.nonfinite_origin();
    sum += loss;
  }
  const double total = sum_over_ranks(sum);  // every rank learns of a bad loss on any rank
  if (!std::isfinite(total))
    throw Error("the loss is " + std::to_string(total) + ": NaN or inf first appear in " +
                (origin.empty() ? "another rank's batch" : origin));
  return total / (double(out.micro_batches()) * mpi.size());
}

}  // namespace sk
