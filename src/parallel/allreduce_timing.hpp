// The network as data parallelism sees it: MPI_Allreduce of float sums (in
// place by default), timed per message size, for the alpha-beta model of communication
// (bench/fit_alpha_beta.py; docs/scaling.md).
#pragma once
#include <cstddef>
#include <vector>

namespace sk {

struct AllreduceTiming {
  std::size_t bytes;
  double seconds;  // median over the timed calls of the slowest rank's time
};

// Times `iters` allreduces of each size after `warmup` untimed ones; every
// call starts after a barrier, so that each measures one allreduce rather
// than a pipeline of them. Collective: every rank calls it with the same sizes.
struct AllreduceMode {
  // MPI_IN_PLACE, as the training reductions; otherwise from a separate send
  // buffer (Open MPI 4.1's coll han crashes on in-place allreduces).
  bool in_place = true;
  // MPI_Iallreduce and MPI_Wait, as the overlapped gradient buckets
  // (parallel.reduction = overlap) call it, instead of MPI_Allreduce: the two
  // take different code paths in the library (Open MPI: coll libnbc against
  // coll tuned) and need not reach the same bandwidth.
  bool nonblocking = false;
};
std::vector<AllreduceTiming> time_allreduce(const std::vector<std::size_t>& sizes, int warmup, int iters,
                                            AllreduceMode mode = {});

// 4 KiB, 16 KiB, ..., 64 MiB: from latency-bound to bandwidth-bound messages.
std::vector<std::size_t> allreduce_sizes();

}  // namespace sk
