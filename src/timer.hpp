// Wall-clock timing of device work: the time since t0 once the device has
// finished what was queued (Kokkos kernels may run asynchronously on GPUs).
#pragma once
#include <Kokkos_Core.hpp>
#include <chrono>

namespace sk {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  Kokkos::fence();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace sk
