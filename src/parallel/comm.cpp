#include "comm.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>

#include "error.hpp"

namespace sk {

namespace {

constexpr std::size_t max_count = std::size_t(1) << 30;  // elements per MPI call, well inside int

// dst = src after space's earlier work, complete on return: MPI or the host
// reads dst next.
template <class Dst, class Src>
void copy_fenced(const ExecSpace& space, const Dst& dst, const Src& src) {
  Kokkos::deep_copy(space, dst, src);
  space.fence();
}

}  // namespace

double sum_over_ranks(double x) {
  double out = 0;
  MPI_Allreduce(&x, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

long sum_over_ranks(long x) {
  long out = 0;
  MPI_Allreduce(&x, &out, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

GradientReducer::GradientReducer(View1<float> grads, Reduction mode, std::size_t bucket_bytes,
                                 const ExecSpace& space)
    : grads_(grads), mode_(mode), space_(space), partition_{0, grads.extent(0)} {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  const std::size_t n = grads.extent(0);
  if (exact()) {
    exact_grads_ = std::make_unique<ExactSum>(n);
    return;
  }
  if (!mpi_reads_memspace && size_ > 1) staging_ = Kokkos::View<float*, Kokkos::HostSpace>("mpi_staging", n);
  if (mode_ == Reduction::zero1) {
    // MPI takes the partitions' sizes and offsets as int.
    if (n > std::size_t(std::numeric_limits<int>::max()))
      throw Error("ZeRO-1 supports models of fewer than 2^31 parameters (" + std::to_string(n) + " here)");
    for (int r = 0; r < size_; ++r) {
      const std::size_t begin = n * r / size_, end = n * (r + 1) / size_;
      counts_.push_back(int(end - begin));
      displs_.push_back(int(begin));
    }
    partition_ = {n * rank_ / size_, n * (rank_ + 1) / size_};
  }
  const std::size_t per_bucket =
      mode_ == Reduction::blocking ? max_count : std::clamp<std::size_t>(bucket_bytes / sizeof(float), 1, max_count);
  for (std::size_t end = n; end > 0;) {
    const std::size_t begin = end > per_bucket ? end - per_bucket : 0;
    buckets_.push_back({begin, end, {}, false});
    end = begin;
  }
}

float* GradientReducer::host_pointer(std::size_t offset) const {
  return (staging_.extent(0) > 0 ? staging_.data() : grads_.data()) + offset;
}

std::size_t GradientReducer::first_unstarted() const {
  std::size_t i = 0;
  while (i < buckets_.size() && buckets_[i].started) ++i;
  return i;
}

// Starts the sums over ranks of buckets [i, j), which lie next to each other
// at [buckets_[j-1].begin, buckets_[i].end): allreduces, or with ZeRO-1 one
// reduce per partition that a bucket overlaps, onto that partition's rank, in place.
// MPI reads the gradients on the host side, so the kernels that wrote them
// must have finished: one fence of the reducer's instance (after the staging
// copy, where there is one) for all the buckets that became final together,
// not one per bucket or per layer. The buckets and MPI calls are the same as
// with one bucket at a time, so the sums keep their bits.
void GradientReducer::start(std::size_t i, std::size_t j) {
  if (i >= j) return;
  const auto range = std::make_pair(buckets_[j - 1].begin, buckets_[i].end);
  if (staging_.extent(0) > 0)
    copy_fenced(space_, Kokkos::subview(staging_, range), Kokkos::subview(grads_, range));
  else
    space_.fence();
  for (std::size_t k = i; k < j; ++k) {
    Bucket& b = buckets_[k];
    if (mode_ != Reduction::zero1) {
      b.requests.emplace_back();
      MPI_Iallreduce(MPI_IN_PLACE, host_pointer(b.begin), int(b.end - b.begin), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                     &b.requests.back());
    } else {
      for (int r = 0; r < size_; ++r) {
        const std::size_t begin = std::max<std::size_t>(b.begin, displs_[r]);
        const std::size_t end = std::min<std::size_t>(b.end, std::size_t(displs_[r]) + counts_[r]);
        if (begin >= end) continue;
        float* part = host_pointer(begin);
        b.requests.emplace_back();
        MPI_Ireduce(r == rank_ ? MPI_IN_PLACE : part, part, int(end - begin), MPI_FLOAT, MPI_SUM, r, MPI_COMM_WORLD,
                    &b.requests.back());
      }
    }
    b.started = true;
  }
}

void GradientReducer::ready(std::size_t from) {
  if (size_ == 1 || mode_ == Reduction::blocking || exact()) return;
  // The backward pass reports layers from the top of the buffer down, so the
  // started buckets are a prefix and the newly final ones the next few. A
  // layer that completes no bucket costs no fence: the device keeps running.
  const std::size_t i = first_unstarted();
  std::size_t j = i;
  while (j < buckets_.size() && buckets_[j].begin >= from) ++j;
  start(i, j);
  // Open MPI progresses non-blocking collectives only inside MPI calls.
  for (auto& b : buckets_) {
    if (!b.started) break;
    int done = 0;
    MPI_Testall(int(b.requests.size()), b.requests.data(), &done, MPI_STATUSES_IGNORE);
  }
}

void GradientReducer::add_micro_batch(const View1<float>& hu) {
  exact_grads_->add(grads_);
  if (hu.extent(0) == 0) return;
  if (!exact_hu_) exact_hu_ = std::make_unique<ExactSum>(hu.extent(0));
  exact_hu_->add(hu);
}

double GradientReducer::finish_hu(const View1<float>& hu) { return exact_hu_->finish(hu); }

double GradientReducer::finish() {
  // Exact sums round into grads on one rank too: the bits are those of any rank count.
  if (exact()) return exact_grads_->finish(grads_);
  if (size_ == 1) return 0;
  // Buckets not yet started wait for the backward's last kernels, which is
  // not time spent communicating. Where ready(0) started them all, the
  // gradients were fenced then and nothing waits here.
  const std::size_t i = first_unstarted();
  if (i < buckets_.size()) space_.fence();
  const auto t0 = std::chrono::steady_clock::now();
  start(i, buckets_.size());
  for (auto& b : buckets_) {
    MPI_Waitall(int(b.requests.size()), b.requests.data(), MPI_STATUSES_IGNORE);
    b.requests.clear();
    b.started = false;
  }
  // The sums: everywhere, or with ZeRO-1 in this rank's partition.
  if (staging_.extent(0) > 0) {
    const auto range = std::make_pair(partition_.begin, partition_.end);
    copy_fenced(space_, Kokkos::subview(grads_, range), Kokkos::subview(staging_, range));
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void GradientReducer::gather_parameters(View1<float> params) const {
  if (size_ == 1 || mode_ != Reduction::zero1) return;
  if constexpr (!mpi_reads_memspace) {
    // Through the gradients' staging buffer, free once finish() has copied
    // the sums back: no allocation per step, and only this rank's partition goes
    // down (the others' parts arrive from MPI).
    const auto mine = std::make_pair(partition_.begin, partition_.end);
    copy_fenced(space_, Kokkos::subview(staging_, mine), Kokkos::subview(params, mine));
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, staging_.data(), counts_.data(), displs_.data(), MPI_FLOAT,
                   MPI_COMM_WORLD);
    copy_fenced(space_, params, staging_);
  } else {
    space_.fence();  // the update's kernels have written params
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, params.data(), counts_.data(), displs_.data(), MPI_FLOAT,
                   MPI_COMM_WORLD);
  }
}

double GradientReducer::bytes_sent_per_reduction() const {
  if (exact()) return exact_grads_->bytes_sent();
  const double bytes = double(grads_.extent(0)) * sizeof(float), r = size_;
  // Ring allreduce: a reduce-scatter and an allgather, each (r-1)/r of the
  // data; ZeRO-1 needs only the first half (its reduces send about as much).
  return size_ == 1 ? 0 : (mode_ == Reduction::zero1 ? 1 : 2) * (r - 1) / r * bytes;
}

double GradientReducer::bytes_sent_per_gather() const {
  const double r = size_;
  return mode_ == Reduction::zero1 && size_ > 1 ? (r - 1) / r * double(grads_.extent(0)) * sizeof(float) : 0;
}

}  // namespace sk
