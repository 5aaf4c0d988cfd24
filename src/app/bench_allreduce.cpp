// bench --allreduce: the allreduce times that the alpha-beta model of
// communication is fitted to (bench/fit_alpha_beta.py reads this table).
#include <mpi.h>

#include <cstdio>

#include "allreduce_timing.hpp"
#include "commands.hpp"

namespace sk {

namespace {

// Nodes of the job: groups of ranks that share memory.
int node_count() {
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  int local_rank = 0, leaders = 0;
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_free(&local);
  const int leader = local_rank == 0;
  MPI_Allreduce(&leader, &leaders, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return leaders;
}

}  // namespace

int bench_allreduce(int warmup, int iters, AllreduceMode mode, const MpiEnv& mpi) {
  const int nodes = node_count();
  const std::vector<AllreduceTiming> timings = time_allreduce(allreduce_sizes(), warmup, iters, mode);
  if (mpi.rank() != 0) return 0;
  const int R = mpi.size();
  std::printf("allreduce: %d rank(s) on %d node(s), float sums %s by %s, median of %d calls after %d untimed, each "
              "after a barrier, the slowest rank's time\n",
              R, nodes, mode.in_place ? "in place" : "out of place",
              mode.nonblocking ? "MPI_Iallreduce + MPI_Wait" : "MPI_Allreduce", iters, warmup);
  // Bus bandwidth: what each rank sends in a ring allreduce, 2 (R-1)/R of the
  // message, over the time; comparable across rank counts.
  std::printf("| bytes | median ms | algorithm GB/s | bus GB/s |\n|---|---|---|---|\n");
  for (const auto& t : timings)
    std::printf("| %zu | %.6f | %.3f | %.3f |\n", t.bytes, t.seconds * 1e3, t.bytes / t.seconds / 1e9,
                2.0 * (R - 1) / R * t.bytes / t.seconds / 1e9);
  return 0;
}

}  // namespace sk
