// The one place where Kokkos 3.4 (Debian) and Kokkos 4.x spell things
// differently. Everything else includes this header instead of naming the
// version-specific spelling.
#pragma once
#include <Kokkos_Core.hpp>

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
