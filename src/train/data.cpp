#include "data.hpp"

#include "random.hpp"

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

StepBatches::StepBatches(int micro_batches, int B, int T) : M_(micro_batches), B_(B), T_(T) {
  const std::size_t M = std::size_t(M_), rows = std::size_t(B) * T;
  const std::size_t ints = 2 * M * rows;  // even, so the labels start on a word
  upload_words_ = M * B + ints / 2;
  storage_ = decltype(storage_)("step_batches", upload_words_ + (rows + 1) / 2);
  host_ = Kokkos::create_mirror_view(storage_);
  int* const tokens = reinterpret_cast<int*>(storage_.data() + M * B);
  const Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels(tokens + ints, B, T);
  for (std::size_t m = 0; m < M; ++m) {
    int* const in = tokens + 2 * m * rows;
    batches_.push_back({{decltype(Batch::inputs)(in, B, T), decltype(Batch::targets)(in + rows, B, T), storage_},
                        Kokkos::subview(storage_, std::make_pair(m * B, (m + 1) * B)),
                        labels});
  }
}

void StepBatches::set_row(int m, int b, const std::uint16_t* window, std::uint64_t sequence) {
  if (!writing_) {
    // Kernels of the last step may still read the rows (or, where host_ is
    // the device memory itself, the memory about to be written).
    Kokkos::fence();
    writing_ = true;
  }
  const std::size_t M = std::size_t(M_), rows = std::size_t(B_) * T_;
  host_(std::size_t(m) * B_ + b) = sequence;
  int* const in = reinterpret_cast<int*>(host_.data() + M * B_) + 2 * m * rows + std::size_t(b) * T_;
  int* const tg = in + rows;
  for (int t = 0; t < T_; ++t) {
    in[t] = window[t];
    tg[t] = window[t + 1];
  }
}

const std::vector<SequenceBatch>& StepBatches::upload() {
  const auto part = std::make_pair(std::size_t(0), upload_words_);
  Kokkos::deep_copy(Kokkos::subview(storage_, part), Kokkos::subview(host_, part));  // a no-op where they alias
  writing_ = false;
  return batches_;
}

Batch make_batch(const std::vector<std::uint16_t>& tokens, std::size_t stride, int B, int T) {
  StepBatches one(1, B, T);
  for (int b = 0; b < B; ++b) one.set_row(0, b, tokens.data() + b * stride, std::uint64_t(b));
  return one.upload()[0].batch;
}

const std::vector<SequenceBatch>& load_batches(StepBatches& out, const TokenShards& shards, const DataOrder& order,
                                               std::uint64_t first, std::uint64_t stride) {
  for (int m = 0; m < out.micro_batches(); ++m)
    for (int b = 0; b < out.rows(); ++b) {
      const std::uint64_t sequence = first + std::uint64_t(m) * stride + b;
      out.set_row(m, b, shards.window(order.window(sequence)), sequence);
    }
  return out.upload();
}

}  // namespace sk
