// The one place where Kokkos and KokkosKernels 3.4 (Debian) and 4.x spell
// things differently. Everything else includes this header instead of naming the
// version-specific spelling.
#pragma once
#include <Kokkos_Core.hpp>
#include <KokkosBlas3_gemm.hpp>
#include <KokkosKernels_config.h>

namespace sk::kmath {
#if KOKKOS_VERSION >= 40000
using Kokkos::exp;
using Kokkos::log;
using Kokkos::sqrt;
using Kokkos::tanh;
using Kokkos::cosh;
using Kokkos::fabs;
using Kokkos::isfinite;
#else
// Kokkos 3.x keeps its device-callable math functions in Experimental.
using Kokkos::Experimental::exp;
using Kokkos::Experimental::log;
using Kokkos::Experimental::sqrt;
using Kokkos::Experimental::tanh;
using Kokkos::Experimental::cosh;
using Kokkos::Experimental::fabs;
using Kokkos::Experimental::isfinite;
#endif
}  // namespace sk::kmath

namespace sk::kblas {
// KokkosBlas::gemm on an execution space instance. KokkosKernels 4.x takes
// the instance; older releases (Debian's 3.4 has neither that overload nor
// KOKKOSKERNELS_VERSION) run on the default instance: right for Debian's
// Serial backend, whose instances are one, and on GPUs for default-instance
// callers only.
template <class Space, class A, class B, class C>
void gemm(const Space& space, const char* ta, const char* tb, typename A::const_value_type& alpha, const A& a,
          const B& b, typename C::const_value_type& beta, const C& c) {
#if defined(KOKKOSKERNELS_VERSION) && KOKKOSKERNELS_VERSION >= 40000
  KokkosBlas::gemm(space, ta, tb, alpha, a, b, beta, c);
#else
  (void)space;
  KokkosBlas::gemm(ta, tb, alpha, a, b, beta, c);
#endif
}
}  // namespace sk::kblas
