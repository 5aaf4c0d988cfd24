// Where a step's time goes: times every labelled Kokkos kernel and every
// profiling region (KokkosBlas pushes one around each BLAS call) through
// Kokkos' tool callbacks. It fences at the end of each, so the times are those
// of execution also on asynchronous backends; use it for breakdowns, not for
// the headline timings.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace sk {

class KernelTimer {
 public:
  KernelTimer();   // installs the callbacks; one timer at a time
  ~KernelTimer();  // removes them
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

  // Seconds per kernel label or region name, largest first. Kernels inside a
  // region count towards the region only.
  std::vector<std::pair<std::string, double>> totals() const;
};

}  // namespace sk
