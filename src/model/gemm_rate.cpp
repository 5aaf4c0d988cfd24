#include "gemm_rate.hpp"

#include <algorithm>

#include "views.hpp"
#include "timer.hpp"

namespace sk {

bool use_gemm_library(GemmChoice choice) {
  switch (choice) {
    case GemmChoice::automatic: return kblas::set_gemm_library(kblas::default_gemm_library);
    case GemmChoice::blas: return kblas::set_gemm_library(kblas::GemmLibrary::blas);
    case GemmChoice::onednn: return kblas::set_gemm_library(kblas::GemmLibrary::onednn);
  }
  return false;
}

const char* gemm_library_name() {
  return name_of(kblas::gemm_library() == kblas::GemmLibrary::onednn ? GemmChoice::onednn : GemmChoice::blas);
}

double time_step_gemms(const std::vector<LinearShape>& shapes) {
  double total = 0;
  for (const auto& s : shapes) {
    View2<float> x("x", s.rows, s.in), w("w", s.out, s.in), y("y", s.rows, s.out);
    View2<float> dx("dx", s.rows, s.in), dw("dw", s.out, s.in);
    Kokkos::deep_copy(x, 0.01f);
    Kokkos::deep_copy(w, 0.01f);
    Kokkos::deep_copy(y, 0.01f);
    kblas::gemm(ExecSpace(), "N", "T", 1.0f, x, w, 0.0f, y);  // first touch outside the timing
    Kokkos::fence();  // before t0: seconds_since fences at the end
    const auto t0 = Clock::now();
    for (int i = 0; i < s.count; ++i) {
      kblas::gemm(ExecSpace(), "N", "T", 1.0f, x, w, 0.0f, y);
      kblas::gemm(ExecSpace(), "N", "N", 1.0f, y, w, 0.0f, dx);
      kblas::gemm(ExecSpace(), "T", "N", 1.0f, y, x, 1.0f, dw);
    }
    total += seconds_since(t0);
  }
  return total;
}

namespace {
// The best (least disturbed) of `rounds` timings after one untimed round.
double best_time(const std::vector<LinearShape>& shapes, int rounds) {
  time_step_gemms(shapes);
  double best = 0;
  for (int i = 0; i < rounds; ++i) {
    const double t = time_step_gemms(shapes);
    best = i == 0 ? t : std::min(best, t);
  }
  return best;
}
}  // namespace

double measured_gemm_rate(const GPT2Config& config, int B, int T, int rounds) {
  return linear_flops(config, B, T) / best_time(linear_layers(config, B, T), rounds);
}

double square_gemm_rate(long n, int rounds) {
  return 3 * 2.0 * double(n) * n * n / best_time({{n, n, n, 1}}, rounds);  // forward and both gradients
}

}  // namespace sk
