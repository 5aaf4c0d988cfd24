// Deterministic column reductions: sums over the rows of [N, C] tensors (the
// parameter gradients of LayerNorm and the embeddings) without floating-point
// atomics. Rows are cut into blocks of a fixed size; stage 1 writes one partial
// sum per (block, column), stage 2 adds the partials of each column in block
// order. The block size does not depend on the backend's thread count, so
// every run and every thread count of a backend gives the same bits, which
// bit-exact restarts rely on.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>

#include "lanes.hpp"
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

// Elements per block of blocked_sum.
constexpr int kSumBlock = 8192;

// Elements of blocked_sum's buffer of block sums for n elements.
inline std::size_t sum_blocks(std::size_t n) { return (n + kSumBlock - 1) / kSumBlock; }

// The f of blocked_sum: plain functors. (nvcc's extended lambdas must not
// pass through host functions into a kernel's capture: their copy through
// the host goes through a null function pointer at run time.)
struct Square {
  template <class T>
  KOKKOS_INLINE_FUNCTION T operator()(T v) const { return v * v; }
};
struct Magnitude {
  template <class T>
  KOKKOS_INLINE_FUNCTION T operator()(T v) const { return kmath::fabs(v); }
};

// total() = the sum over a buffer of f(x[i]) in a fixed order: a team per
// block of kSumBlock elements adds them in float lanes (for_lane_groups), the
// lanes and threads are added into the block's sum in double, and the block
// sums are added in block order. For the gradient norm and the Hessian's
// diagnostics: one pass at memory speed (a single running sum is bound by the
// latency of its additions instead), and the same bits at every thread count.
// partials [sum_blocks(n)]: the block sums. Nothing waits for the result.
template <class T, class F>
void blocked_sum(const char* label, ConstTensor1<T> x, F f, View1<double> partials,
                 Kokkos::View<double, MemSpace> total, const ExecSpace& space = ExecSpace()) {
  const long n = long(x.extent(0));
  const int blocks = int(sum_blocks(std::size_t(n)));
  if (partials.extent(0) < std::size_t(blocks))
    throw std::invalid_argument(std::string(label) + ": " + std::to_string(partials.extent(0)) +
                                " block sums, needs " + std::to_string(blocks));
  if (blocks > 0)
    Kokkos::parallel_for(label, TeamPolicy(space, blocks, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
      const long lo = long(team.league_rank()) * kSumBlock;
      const T* block = x.data() + lo;
      T lane[kLanes];
      for (int j = 0; j < kLanes; ++j) lane[j] = 0;
      for_lane_groups(team, n - lo < kSumBlock ? int(n - lo) : kSumBlock,
                      [&](int i, int j) { lane[j] += f(block[i]); });
      double sum = 0;
      for (int j = 0; j < kLanes; ++j) sum += double(lane[j]);
      team.team_reduce(Kokkos::Sum<double>(sum));
      if (team.team_rank() == 0) partials(team.league_rank()) = sum;
    });
  Kokkos::parallel_for(label, RangePolicy(space, 0, 1), KOKKOS_LAMBDA(const int) {
    double acc = 0;
    for (int b = 0; b < blocks; ++b) acc += partials(b);
    total() = acc;
  });
}

// How many of the n elements at x are NaN or infinite. A diagnostic: run when
// a loss or logits are not finite, to find the tensor where that begins.
template <class T>
long count_nonfinite(const T* x, std::size_t n, const ExecSpace& space = ExecSpace()) {
  long count = 0;
  Kokkos::parallel_reduce(
      "count_nonfinite", Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<long>>(space, 0, long(n)),
      KOKKOS_LAMBDA(const long i, long& c) { c += kmath::isfinite(x[i]) ? 0 : 1; }, count);
  return count;
}

// Stage 2: out[c] += sum over blocks b, in order, of partials[b, c].
// partials [n_blocks, C]; out [C]. A thread per column: consecutive threads
// read consecutive columns of each block's row.
template <class T>
void add_column_partials(const char* label, Tensor1<T> out, ConstTensor2<T> partials, const ExecSpace& space = ExecSpace()) {
  const int n_blocks = partials.extent(0);
  Kokkos::parallel_for(label, RangePolicy(space, 0, partials.extent(1)), KOKKOS_LAMBDA(const int c) {
    T sum = 0;
    for (int b = 0; b < n_blocks; ++b) sum += partials(b, c);
    out(c) += sum;
  });
}

}  // namespace sk
