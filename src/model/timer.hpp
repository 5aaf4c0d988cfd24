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

// Seconds left after step `step` (0-based) of `steps`, at the pace of this
// process: `elapsed` seconds for the steps it ran, from `first_step` on (a
// resumed run starts past 0, and its earlier steps took none of `elapsed`).
inline double eta_seconds(double elapsed, long first_step, long step, long steps) {
  return elapsed / double(step + 1 - first_step) * double(steps - step - 1);
}

}  // namespace sk
