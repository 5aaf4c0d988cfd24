// Row loops in lane groups, for kernels that walk long rows with a team per
// row (softmax, LayerNorm, broadcasts) and for fixed-order sums.
#pragma once
#include "views.hpp"

namespace sk {

// Columns per lane group of row loops. A team thread walks whole groups and
// keeps kLanes partial results, one per column of a group: CPU compilers turn
// a group into vector instructions, and the order of the additions is fixed by
// the team size alone, never by the backend's thread count.
constexpr int kLanes = 16;

// f(v, j) for the columns v in [0, n) of a row that this team thread owns:
// whole groups of kLanes columns, j being v's place in its group, then the
// columns after the last whole group (thread 0, j = 0).
template <class F>
KOKKOS_INLINE_FUNCTION void for_lane_groups(const Member& team, int n, F f) {
  const int groups = n / kLanes;
  for (int g = team.team_rank(); g < groups; g += team.team_size())
    for (int j = 0; j < kLanes; ++j) f(g * kLanes + j, j);
  if (team.team_rank() == 0)
    for (int v = groups * kLanes; v < n; ++v) f(v, 0);
}

// The sum over the columns c in [0, n) of a row of f(c), by the whole team:
// kLanes partial sums per thread (for_lane_groups), added in lane order, then
// over the team's threads. f(c) is called once per column (it may write there).
template <class T, class F>
KOKKOS_INLINE_FUNCTION T team_lane_sum(const Member& team, int n, F f) {
  T lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = 0;
  for_lane_groups(team, n, [&](int c, int j) { lane[j] += f(c); });
  T sum = 0;
  for (int j = 0; j < kLanes; ++j) sum += lane[j];
  team.team_reduce(Kokkos::Sum<T>(sum));
  return sum;
}

}  // namespace sk
