// Which windows of the token shards each step reads, and loading them as batches.
#pragma once
#include <cstdint>
#include <vector>

#include "shards.hpp"
#include "batch.hpp"

namespace sk {

// The i-th sequence of a run reads window(i). Sequential: windows in file
// order, wrapping around. Shuffled: each pass over the data (epoch) is a
// pseudo-random permutation of the windows chosen by (seed, epoch), computed
// on the fly, so the order needs no memory and the data position is a single
// number.
class DataOrder {
 public:
  DataOrder(std::uint64_t windows, bool shuffled, std::uint64_t seed);
  std::uint64_t window(std::uint64_t sequence) const;

 private:
  std::uint64_t permute(std::uint64_t x, std::uint64_t epoch) const;
  std::uint64_t windows_;
  bool shuffled_;
  std::uint64_t seed_;
  int half_bits_;
};

// Fills `out` and uploads it: row b of micro-batch m is sequence
// first + m*stride + b of the order. One host-to-device copy.
const std::vector<SequenceBatch>& load_batches(StepBatches& out, const TokenShards& shards, const DataOrder& order,
                                               std::uint64_t first, std::uint64_t stride);

}  // namespace sk
