// Deterministic column reductions: sums over the rows of [N, C] tensors (the
// parameter gradients of LayerNorm and the embeddings) without floating-point
// atomics. Rows are cut into blocks of a fixed size; stage 1 writes one partial
// sum per (block, column), stage 2 adds the partials of each column in block
// order. The block size does not depend on the backend's thread count, so
// every run and every thread count of a backend gives the same bits, which
// bit-exact restarts rely on.
#pragma once
#include <cstddef>

#include "views.hpp"

namespace sk {

// Rows per block of stage 1.
constexpr int kRowBlock = 32;
// Columns per team of stage 1: bounds a team's work and, on GPUs, gives wide
// tensors more teams; the results do not depend on it.
constexpr int kColumnTile = 256;

inline int row_blocks(int rows) { return (rows + kRowBlock - 1) / kRowBlock; }

// Elements of the partial-sum buffer that `sums` column reductions of an
// [rows, cols] tensor need: [sums, row_blocks(rows), cols].
inline std::size_t column_partials_size(int rows, int cols, int sums = 1) {
  return std::size_t(sums) * row_blocks(rows) * cols;
}

// Vector lanes per thread for team kernels that read long contiguous rows with
// ThreadVectorRange: a warp's worth on GPUs, so that lanes read consecutive
// addresses; 1 on CPUs, where each thread runs its inner loop itself.
inline int vector_lanes() { return Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible ? 1 : 32; }

// Stage 2: out[c] += sum over blocks b, in order, of partials[b, c].
// partials [n_blocks, C]; out [C]. A thread per column: consecutive threads
// read consecutive columns of each block's row.
template <class T>
void add_column_partials(const char* label, Tensor1<T> out, ConstTensor2<T> partials) {
  const int n_blocks = partials.extent(0);
  Kokkos::parallel_for(label, RangePolicy(0, partials.extent(1)), KOKKOS_LAMBDA(const int c) {
    T sum = 0;
    for (int b = 0; b < n_blocks; ++b) sum += partials(b, c);
    out(c) += sum;
  });
}

}  // namespace sk
