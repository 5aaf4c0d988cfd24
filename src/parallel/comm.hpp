// Data parallelism over MPI: every rank holds the whole model, computes
// gradients on its slice of the global batch, and the gradients are summed
// over ranks before the update. GradientReducer does that sum, either in one
// blocking call after the backward pass, or in buckets started during the
// backward pass as soon as their gradients are final (layers finish from the
// top down). With the optimizer state partitioned (ZeRO-1) the buckets are
// reduced, each part onto the rank whose partition holds it, so that each rank
// ends with the sum over its own partition. In exact mode each micro-batch's
// gradients are added in fixed point (exact_sum.hpp) and summed over ranks
// after the backward pass, so that the bits do not depend on the rank count.
#pragma once
#include <mpi.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "choices.hpp"
#include "exact_sum.hpp"
#include "parameters.hpp"
#include "ranks.hpp"
#include "views.hpp"

namespace sk {

// Sums of scalars over all ranks (for losses, norms, counts).
double sum_over_ranks(double x);
long sum_over_ranks(long x);

// Whether MPI may be handed pointers into the default memory space: host
// memory always; device memory only with a GPU-aware MPI (CMake option
// SOPHIA_KOKKOS_GPU_AWARE_MPI).
#ifdef SK_GPU_AWARE_MPI
constexpr bool mpi_reads_memspace = true;
#else
constexpr bool mpi_reads_memspace = Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible;
#endif

class GradientReducer {
 public:
  // grads: the flat gradient buffer; bucket_bytes: size of the overlapped
  // reductions' buckets; space: the instance whose kernels write the gradients
  // and parameters, the one fenced before MPI reads them (other instances,
  // such as a compute stream that overlaps communication, keep running).
  GradientReducer(View1<float> grads, Reduction mode, std::size_t bucket_bytes, const ExecSpace& space = ExecSpace());

  // This rank's part of the optimizer state: everything, or its ZeRO-1 partition.
  Partition partition() const { return partition_; }
  bool partitioned() const { return mode_ == Reduction::zero1 && size_ > 1; }
  int ranks() const { return size_; }

  // Gradients in [from, end of buffer) are final for this step: starts the
  // reductions of the buckets that lie there (overlap and ZeRO-1) and lets
  // MPI make progress on those already started.
  void ready(std::size_t from);
  // Completes the sum of all gradients over ranks (in the partition, with ZeRO-1);
  // returns the seconds spent waiting, i.e. communication not hidden.
  double finish();

  // Exact mode: the gradients of each micro-batch, and Sophia-H's H u where
  // given, go into fixed-point sums here, and the caller zeroes them before
  // the next micro-batch. finish() rounds the gradients' sum over ranks into
  // grads, finish_hu the sum of H u into hu.
  bool exact() const { return mode_ == Reduction::exact; }
  void add_micro_batch(const View1<float>& hu = {});
  double finish_hu(const View1<float>& hu);
  // With ZeRO-1, after the update: every rank gets every partition's parameters.
  void gather_parameters(View1<float> params) const;

  // Bytes this rank sends per reduction of the whole buffer (ring algorithms).
  double bytes_sent_per_reduction() const;
  // Bytes this rank sends to gather the parameters (ZeRO-1), per step.
  double bytes_sent_per_gather() const;

 private:
  struct Bucket {
    std::size_t begin, end;
    std::vector<MPI_Request> requests;  // one allreduce, or one reduce per partition it overlaps
    bool started = false;
  };
  void start(std::size_t i, std::size_t j);
  std::size_t first_unstarted() const;
  float* host_pointer(std::size_t offset) const;

  View1<float> grads_;
  Reduction mode_;
  ExecSpace space_;
  int rank_ = 0, size_ = 1;
  Partition partition_;
  std::vector<int> counts_, displs_;  // per-rank partition sizes and offsets (ZeRO-1)
  std::vector<Bucket> buckets_;       // from the end of the buffer to its start
  std::unique_ptr<ExactSum> exact_grads_, exact_hu_;  // exact mode; H u's on first use
  // Staging copy for memory that MPI cannot read (device memory without a
  // GPU-aware MPI); unused where the gradients are host-accessible.
  Kokkos::View<float*, Kokkos::HostSpace> staging_;
};

}  // namespace sk
