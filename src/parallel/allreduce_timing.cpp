#include "allreduce_timing.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>

namespace sk {

std::vector<std::size_t> allreduce_sizes() {
  std::vector<std::size_t> sizes;
  for (std::size_t b = std::size_t(4) << 10; b <= std::size_t(64) << 20; b *= 4) sizes.push_back(b);
  return sizes;
}

namespace {

void allreduce(const float* send, float* buffer, int count, bool nonblocking) {
  const void* from = send ? static_cast<const void*>(send) : MPI_IN_PLACE;
  if (!nonblocking) {
    MPI_Allreduce(from, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return;
  }
  MPI_Request request;
  MPI_Iallreduce(from, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request);
  MPI_Wait(&request, MPI_STATUS_IGNORE);
}

}  // namespace

std::vector<AllreduceTiming> time_allreduce(const std::vector<std::size_t>& sizes, int warmup, int iters,
                                            AllreduceMode mode) {
  std::vector<AllreduceTiming> out;
  const std::size_t largest = *std::max_element(sizes.begin(), sizes.end()) / sizeof(float);
  std::vector<float> buffer(largest, 1.0f), send(mode.in_place ? 0 : largest, 1.0f);
  for (std::size_t bytes : sizes) {
    const int count = int(bytes / sizeof(float));
    std::vector<double> times;
    for (int i = 0; i < warmup + iters; ++i) {
      MPI_Barrier(MPI_COMM_WORLD);
      const auto t0 = std::chrono::steady_clock::now();
      allreduce(mode.in_place ? nullptr : send.data(), buffer.data(), count, mode.nonblocking);
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (i >= warmup) times.push_back(t);
      std::fill(buffer.begin(), buffer.begin() + count, 1.0f);  // sums of ones stay finite
    }
    std::sort(times.begin(), times.end());
    const std::size_t n = times.size();
    out.push_back({bytes, n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2])});
  }
  return out;
}

}  // namespace sk
