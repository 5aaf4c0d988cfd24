#include "data.hpp"

#include <vector>

#include "../kernels/random.hpp"

namespace sk {

DataOrder::DataOrder(std::uint64_t windows, bool shuffled, std::uint64_t seed)
    : windows_(windows), shuffled_(shuffled), seed_(seed), half_bits_(1) {
  while ((std::uint64_t(1) << (2 * half_bits_)) < windows) ++half_bits_;
}

// A four-round Feistel network on 2*half_bits bits is a permutation of
// [0, 2^(2*half_bits)); walking the cycle until the value falls below the
// window count restricts it to a permutation of [0, windows).
std::uint64_t DataOrder::permute(std::uint64_t x, std::uint64_t epoch) const {
  const std::uint64_t mask = (std::uint64_t(1) << half_bits_) - 1;
  do {
    std::uint64_t left = x >> half_bits_, right = x & mask;
    for (std::uint64_t round = 0; round < 4; ++round) {
      const std::uint64_t next = left ^ (hash_key(seed_, epoch, round, right) & mask);
      left = right;
      right = next;
    }
    x = (left << half_bits_) | right;
  } while (x >= windows_);
  return x;
}

std::uint64_t DataOrder::window(std::uint64_t sequence) const {
  const std::uint64_t epoch = sequence / windows_, index = sequence % windows_;
  return shuffled_ ? permute(index, epoch) : index;
}

SequenceBatch load_batch(const TokenShards& shards, const DataOrder& order, std::uint64_t first, int B, int T) {
  std::vector<std::uint16_t> tokens(std::size_t(B) * (T + 1));
  Kokkos::View<std::uint64_t*, MemSpace> sequences("sequences", B);
  auto host = Kokkos::create_mirror_view(sequences);
  for (int b = 0; b < B; ++b) {
    host(b) = first + b;
    shards.read_window(order.window(first + b), tokens.data() + std::size_t(b) * (T + 1));
  }
  Kokkos::deep_copy(sequences, host);
  return {make_batch(tokens, std::size_t(T) + 1, B, T), sequences};
}

}  // namespace sk
