#include "exact_sum.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "comm.hpp"

namespace sk {

namespace {

// FixedPoint as an MPI datatype, and its sum: integer addition, which is
// associative and commutative, so MPI may add in any order. A 16-byte type
// (not bytes) keeps MPI from cutting an element between two segments.
void add_fixed_points(void* in, void* inout, int* count, MPI_Datatype*) {
  const auto* a = static_cast<const FixedPoint*>(in);
  auto* b = static_cast<FixedPoint*>(inout);
  for (int i = 0; i < *count; ++i) b[i] = a[i] + b[i];
}

MPI_Datatype fixed_point_type() {
  static const MPI_Datatype type = [] {
    MPI_Datatype t;
    MPI_Type_contiguous(2, MPI_UINT64_T, &t);
    MPI_Type_commit(&t);
    return t;
  }();
  return type;
}

MPI_Op fixed_point_sum() {
  static const MPI_Op op = [] {
    MPI_Op o;
    MPI_Op_create(&add_fixed_points, 1, &o);
    return o;
  }();
  return op;
}

constexpr std::size_t max_count = std::size_t(1) << 26;  // elements per MPI call (1 GiB)

}  // namespace

ExactSum::ExactSum(std::size_t n)
    : sum_("exact_sum", n), out_of_range_("exact_sum_out_of_range"), host_(Kokkos::create_mirror_view(sum_)) {
  static_assert(sizeof(FixedPoint) == 16);
}

void ExactSum::add(const View1<float>& x) { fixed_point_add(sum_, x, out_of_range_); }

double ExactSum::finish(const View1<float>& out) {
  long bad = 0;
  Kokkos::deep_copy(bad, out_of_range_);  // fences the adds
  Kokkos::deep_copy(host_, sum_);
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const auto t0 = std::chrono::steady_clock::now();
  if (ranks > 1) {
    for (std::size_t begin = 0; begin < host_.extent(0); begin += max_count) {
      const int count = int(std::min(max_count, host_.extent(0) - begin));
      MPI_Allreduce(MPI_IN_PLACE, host_.data() + begin, count, fixed_point_type(), fixed_point_sum(), MPI_COMM_WORLD);
    }
    bad = sum_over_ranks(bad);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Kokkos::deep_copy(sum_, host_);
  if (bad > 0)
    Kokkos::deep_copy(out, std::numeric_limits<float>::quiet_NaN());
  else
    fixed_point_round(out, sum_);
  Kokkos::deep_copy(sum_, FixedPoint{0, 0});
  Kokkos::deep_copy(out_of_range_, 0L);
  return seconds;
}

double ExactSum::bytes_sent() const {
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const double r = ranks;
  return ranks == 1 ? 0 : 2 * (r - 1) / r * double(sum_.extent(0)) * sizeof(FixedPoint);
}

}  // namespace sk
