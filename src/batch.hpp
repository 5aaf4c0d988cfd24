// A batch of B rows of T tokens, as device views of inputs and targets.
#pragma once
#include <cstdint>
#include <vector>

#include "../kernels/views.hpp"

namespace sk {

struct Batch {
  Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> inputs, targets;  // [B, T]
};

// Row b holds tokens[b*stride, b*stride + T) and its targets are the same
// window shifted by one. stride T takes consecutive rows of one text (B*T+1
// tokens); stride T+1 takes B separate windows of T+1 tokens.
inline Batch make_batch(const std::vector<std::uint16_t>& tokens, std::size_t stride, int B, int T) {
  Batch batch{decltype(Batch::inputs)("inputs", B, T), decltype(Batch::targets)("targets", B, T)};
  auto in = Kokkos::create_mirror_view(batch.inputs);
  auto tg = Kokkos::create_mirror_view(batch.targets);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      in(b, t) = tokens[b * stride + t];
      tg(b, t) = tokens[b * stride + t + 1];
    }
  Kokkos::deep_copy(batch.inputs, in);
  Kokkos::deep_copy(batch.targets, tg);
  return batch;
}

}  // namespace sk
