// The one place where Kokkos and KokkosKernels 3.4 (Debian) and 4.x spell
// things differently, and where gemms choose their library. Everything else
// includes this header instead of naming the version-specific spelling.
#pragma once
#include <Kokkos_Core.hpp>
#include <KokkosBlas3_gemm.hpp>
#include <KokkosKernels_config.h>
#include <optional>
#include <type_traits>

#if defined(SK_HAVE_ONEDNN)
#include "gemm_onednn.hpp"
#endif
#if defined(KOKKOS_ENABLE_CUDA)
#include "gemm_bf16_cuda.hpp"
#endif

namespace sk::kmath {
#if KOKKOS_VERSION >= 40000
using Kokkos::exp;
using Kokkos::log;
using Kokkos::sqrt;
using Kokkos::tanh;
using Kokkos::cosh;
using Kokkos::cos;
using Kokkos::sin;
using Kokkos::fabs;
using Kokkos::floor;
using Kokkos::isfinite;
#else
// Kokkos 3.x keeps its device-callable math functions in Experimental.
using Kokkos::Experimental::exp;
using Kokkos::Experimental::log;
using Kokkos::Experimental::sqrt;
using Kokkos::Experimental::tanh;
using Kokkos::Experimental::cosh;
using Kokkos::Experimental::cos;
using Kokkos::Experimental::sin;
using Kokkos::Experimental::fabs;
using Kokkos::Experimental::floor;
using Kokkos::Experimental::isfinite;
#endif
}  // namespace sk::kmath

namespace sk::kblas {
// The libraries a gemm can run in. blas: KokkosKernels' gemm, which calls the
// BLAS it was built with (OpenBLAS, MKL or AOCL on hosts, cuBLAS on CUDA).
// onednn: oneDNN's matmul (gemm_onednn.hpp), for float gemms on host
// backends, in builds that found it (SK_HAVE_ONEDNN). The precision of the
// gemms' inputs is chosen apart from the library (gemm_precision below).
enum class GemmLibrary { blas, onednn };

inline constexpr bool onednn_built =
#if defined(SK_HAVE_ONEDNN)
    true;
#else
    false;
#endif

// The library in use, one for the whole process (bench --gemm, train.gemm).
// oneDNN where it is built: on the development machine (AVX-512), beside
// Debian's OpenBLAS on its AVX2 kernels (OPENBLAS_CORETYPE=Haswell), its
// Sophia-G steps took 0.83 of the time on gpt2 and 0.66 on the quick-start
// model (docs/benchmarks.md).
inline constexpr GemmLibrary default_gemm_library = onednn_built ? GemmLibrary::onednn : GemmLibrary::blas;
inline GemmLibrary& gemm_library() {
  static GemmLibrary library = default_gemm_library;
  return library;
}

// Chooses the library; false (and no change) for one this build lacks.
inline bool set_gemm_library(GemmLibrary library) {
  if (library == GemmLibrary::onednn && !onednn_built) return false;
  gemm_library() = library;
  return true;
}

// The precision of the gemms' inputs, one for the whole process
// (train.precision, --precision). bf16: inputs rounded to bf16, products
// accumulated and written in f32, by oneDNN on host backends and by cuBLAS
// on CUDA (gemm_bf16_cuda.hpp); only set where such a gemm exists
// (use_gemm_precision in src/model/gemm_rate.hpp checks).
enum class GemmPrecision { fp32, bf16 };
inline GemmPrecision& gemm_precision() {
  static GemmPrecision precision = GemmPrecision::fp32;
  return precision;
}

#if defined(SK_HAVE_ONEDNN)
// A 2-D view as the strided matrix oneDNN takes (T: const or not).
template <class T, class View>
onednn::Strided<T> strided(const View& v) {
  return {v.data(), long(v.extent(0)), long(v.extent(1)), long(v.stride(0)), long(v.stride(1))};
}
#endif

// C = alpha op(A) op(B) + beta C on an execution space instance, in the
// library chosen above. KokkosKernels 4.x takes the instance; older releases
// (Debian's 3.4 has neither that overload nor KOKKOSKERNELS_VERSION) run on
// the default instance: right for Debian's Serial backend, whose instances
// are one, and on GPUs for default-instance callers only. oneDNN runs on its
// own (OpenMP) threads, after the instance's earlier work.
// `precision` is gemm_precision() (gemm below) or fp32 (gemm_fp32).
template <class Space, class A, class B, class C>
void gemm_in(GemmPrecision precision, const Space& space, const char* ta, const char* tb,
             typename A::const_value_type& alpha, const A& a, const B& b, typename C::const_value_type& beta,
             const C& c) {
#if defined(SK_HAVE_ONEDNN)
  // Empty products (no rows, columns or inner dimension) stay with
  // KokkosKernels, which defines them as BLAS does.
  if constexpr (std::is_same<typename C::non_const_value_type, float>::value &&
                std::is_same<typename Space::memory_space, Kokkos::HostSpace>::value) {
    if (gemm_library() == GemmLibrary::onednn && c.size() > 0 && a.size() > 0) {
      space.fence();
      // A region, so that profiling tools (bench --breakdown) see the call
      // as they see KokkosBlas' gemms.
      const bool bf16 = precision == GemmPrecision::bf16;
      Kokkos::Profiling::pushRegion(bf16 ? "onednn_gemm_bf16" : "onednn_gemm");
      (bf16 ? onednn::gemm_bf16 : onednn::gemm)(*ta == 'T', *tb == 'T', alpha, strided<const float>(a),
                                                strided<const float>(b), beta, strided<float>(c));
      Kokkos::Profiling::popRegion();
      return;
    }
  }
#endif
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same<typename C::non_const_value_type, float>::value &&
                std::is_same<Space, Kokkos::Cuda>::value) {
    if (precision == GemmPrecision::bf16 && c.size() > 0 && a.size() > 0) {
      Kokkos::Profiling::pushRegion("cublas_gemm_bf16");
      cuda_bf16::gemm(space, *ta == 'T', *tb == 'T', alpha, a, b, beta, c);
      Kokkos::Profiling::popRegion();
      return;
    }
  }
#endif
#if defined(KOKKOSKERNELS_VERSION) && KOKKOSKERNELS_VERSION >= 40000
  KokkosBlas::gemm(space, ta, tb, alpha, a, b, beta, c);
#else
  (void)space;
  KokkosBlas::gemm(ta, tb, alpha, a, b, beta, c);
#endif
  (void)precision;
}

template <class Space, class A, class B, class C>
void gemm(const Space& space, const char* ta, const char* tb, typename A::const_value_type& alpha, const A& a,
          const B& b, typename C::const_value_type& beta, const C& c) {
  gemm_in(gemm_precision(), space, ta, tb, alpha, a, b, beta, c);
}

// The same in fp32 whatever gemm_precision() says: for products that cost
// little beside the conversion of their inputs to bf16 (the bias gradients'
// column sums, whose bf16 rounding would also cost accuracy for nothing).
template <class Space, class A, class B, class C>
void gemm_fp32(const Space& space, const char* ta, const char* tb, typename A::const_value_type& alpha, const A& a,
               const B& b, typename C::const_value_type& beta, const C& c) {
  gemm_in(GemmPrecision::fp32, space, ta, tb, alpha, a, b, beta, c);
}

// Within its scope, the bf16 gemms that read the contiguous view m read one
// bf16 copy of it, converted here, instead of each converting m (oneDNN on
// host backends). Elsewhere, and in fp32, it does nothing. m must not change
// while it lives. For operands of two or more gemms: a backward's output
// gradient, read for dX and for dW.
class ConvertOnce {
 public:
  template <class Space, class View>
  ConvertOnce(const Space& space, const View& m) {
#if defined(SK_HAVE_ONEDNN)
    if constexpr (std::is_same<typename View::non_const_value_type, float>::value &&
                  std::is_same<typename Space::memory_space, Kokkos::HostSpace>::value) {
      if (gemm_library() == GemmLibrary::onednn && gemm_precision() == GemmPrecision::bf16 && m.size() > 0 &&
          m.span_is_contiguous()) {
        space.fence();  // m's last writer
        Kokkos::Profiling::pushRegion("bf16_convert_once");
        scope_.emplace(m.data(), m.size());
        Kokkos::Profiling::popRegion();
      }
    }
#else
    (void)space;
    (void)m;
#endif
  }

 private:
#if defined(SK_HAVE_ONEDNN)
  std::optional<onednn::Bf16Scope> scope_;
#endif
};
}  // namespace sk::kblas
