#include "gemm_rate.hpp"

#include <algorithm>
#include <memory>
#include <string>

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

namespace {
// What a bf16 gemm lacks here: "" when the build, library and CPU have one.
std::string bf16_missing() {
#if defined(KOKKOS_ENABLE_CUDA)
  // cuBLAS' bf16 gemms (kernels/gemm_bf16_cuda.hpp) need Ampere (8.0) or newer.
  int device = 0, major = 0, minor = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  if (major < 8)
    return "bf16 gemms on CUDA need a GPU of compute capability 8.0 or newer, and this one is " +
           std::to_string(major) + "." + std::to_string(minor);
  return "";
#elif defined(KOKKOS_ENABLE_HIP)
  return std::string("bf16 gemms run on host backends with oneDNN and on CUDA with cuBLAS; this build runs on ") +
         ExecSpace::name() + ", whose bf16 gemm is not built";
#elif defined(SK_HAVE_ONEDNN)
  if (kblas::gemm_library() != kblas::GemmLibrary::onednn)
    return "bf16 gemms run in oneDNN, and the gemm library chosen is blas (KokkosKernels' BLAS has no bf16 gemm)";
  return onednn::bf16_missing();
#else
  return "bf16 gemms need a host build with oneDNN (libdnnl-dev, SK_ONEDNN), and this build has none";
#endif
}
}  // namespace

std::string use_gemm_precision(Precision precision) {
  if (precision == Precision::bf16) {
    const std::string missing = bf16_missing();
    if (!missing.empty()) return missing;
  }
  kblas::gemm_precision() = precision == Precision::bf16 ? kblas::GemmPrecision::bf16 : kblas::GemmPrecision::fp32;
  return "";
}

std::string gemm_description() {
  return std::string(gemm_library_name()) + ", " +
         name_of(kblas::gemm_precision() == kblas::GemmPrecision::bf16 ? Precision::bf16 : Precision::fp32);
}

const char* gemm_library_name() {
  return name_of(kblas::gemm_library() == kblas::GemmLibrary::onednn ? GemmChoice::onednn : GemmChoice::blas);
}

namespace {
// In bf16, the weights' bf16 copy, as the model keeps one (GPT2::sync_gemm_weights):
// the timed gemms then convert activations, not weights, on each call.
std::shared_ptr<void> weights_copy(const View2<float>& w) {
#if defined(SK_HAVE_ONEDNN)
  if (kblas::gemm_precision() == kblas::GemmPrecision::bf16) {
    auto copy = std::make_shared<onednn::Bf16Copy>(w.data(), w.size());
    copy->refresh();
    return copy;
  }
#endif
  (void)w;
  return nullptr;
}
}  // namespace

double time_step_gemms(const std::vector<LinearShape>& shapes) {
  double total = 0;
  for (const auto& s : shapes) {
    View2<float> x("x", s.rows, s.in), w("w", s.out, s.in), y("y", s.rows, s.out);
    View2<float> dx("dx", s.rows, s.in), dw("dw", s.out, s.in);
    Kokkos::deep_copy(x, 0.01f);
    Kokkos::deep_copy(w, 0.01f);
    Kokkos::deep_copy(y, 0.01f);
    const auto copy = weights_copy(w);
    kblas::gemm(ExecSpace(), "N", "T", 1.0f, x, w, 0.0f, y);  // first touch outside the timing
    Kokkos::fence();  // before t0: seconds_since fences at the end
    const auto t0 = Clock::now();
    for (int i = 0; i < s.count; ++i) {
      kblas::gemm(ExecSpace(), "N", "T", 1.0f, x, w, 0.0f, y);
      const kblas::ConvertOnce y_once(ExecSpace(), y);  // y stands for dout: matmul_backward converts it once
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
