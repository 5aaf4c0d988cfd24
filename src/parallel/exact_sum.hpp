// A sum of float buffers over micro-batches and ranks whose bits do not depend
// on the order of the addends, nor on how they fall on ranks: each addend is
// added in 128-bit fixed point (kernels/fixed_point.hpp), the sums over ranks
// are integer sums, and only the total is rounded to float. A run with
// parallel.reduction = "exact" is therefore bit-identical to one process
// that runs the same micro-batches one after another.
#pragma once
#include <cstddef>

#include "fixed_point.hpp"
#include "views.hpp"

namespace sk {

class ExactSum {
 public:
  explicit ExactSum(std::size_t n);
  // This rank's sum += x ([n]).
  void add(const View1<float>& x);
  // out = the sum of every rank's addends, rounded to float; NaN everywhere
  // if an addend on any rank was out of range (kernels/fixed_point.hpp). The
  // sum starts again from zero. Returns the seconds spent in MPI.
  double finish(const View1<float>& out);
  // Bytes this rank sends per finish (ring allreduce of 16-byte elements).
  double bytes_sent() const;

 private:
  View1<FixedPoint> sum_;
  Kokkos::View<long, MemSpace> out_of_range_;
  // The host copy MPI reads (a view of sum_ where MPI can read it).
  Kokkos::View<FixedPoint*, Kokkos::HostSpace> host_;
};

}  // namespace sk
