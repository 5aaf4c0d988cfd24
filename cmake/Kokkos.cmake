# Finds Kokkos and KokkosKernels and provides one target, sk::kokkos, for the
# rest of the build.
#
# A standalone Kokkos/KokkosKernels install (any site Kokkos 4.x, or 3.x built
# on its own) exports Kokkos::kokkos and Kokkos::kokkoskernels with correct
# include directories; we use those unchanged.
#
# Debian's packages (libtrilinos-kokkos-dev, Kokkos 3.4.1 built inside
# Trilinos 13.2) instead export TriBITS targets (trilinos_kokkoscore, ...)
# without include directories, and their *_INCLUDE_DIRS variable points at
# <prefix>/../include/trilinos, a path that does not exist; the headers are in
# /usr/include/trilinos. This is the one place that works around it: when the
# configured directory lacks Kokkos_Core.hpp we search for the real one.
find_package(Kokkos REQUIRED)
find_package(KokkosKernels REQUIRED)

add_library(sk_kokkos INTERFACE)
add_library(sk::kokkos ALIAS sk_kokkos)

if(TARGET Kokkos::kokkoskernels)
  target_link_libraries(sk_kokkos INTERFACE Kokkos::kokkoskernels Kokkos::kokkos)
else()
  set(_sk_kokkos_inc "")
  foreach(_dir IN LISTS KokkosKernels_INCLUDE_DIRS Kokkos_INCLUDE_DIRS)
    if(EXISTS "${_dir}/Kokkos_Core.hpp")
      set(_sk_kokkos_inc "${_dir}")
      break()
    endif()
  endforeach()
  if(NOT _sk_kokkos_inc)
    find_path(_sk_kokkos_inc Kokkos_Core.hpp
      HINTS "${KokkosKernels_INSTALL_DIR}/include/trilinos" /usr/include/trilinos
      NO_CACHE)
    message(STATUS "Kokkos: configured include directory lacks Kokkos_Core.hpp; using ${_sk_kokkos_inc}")
  endif()
  if(NOT _sk_kokkos_inc)
    message(FATAL_ERROR "Kokkos headers (Kokkos_Core.hpp) not found; set Kokkos_ROOT to a Kokkos install")
  endif()
  target_include_directories(sk_kokkos SYSTEM INTERFACE "${_sk_kokkos_inc}")
  foreach(_lib IN LISTS KokkosKernels_LIBRARIES)
    if(TARGET ${_lib})
      target_link_libraries(sk_kokkos INTERFACE ${_lib})
    else()
      target_link_directories(sk_kokkos INTERFACE ${KokkosKernels_LIBRARY_DIRS})
      target_link_libraries(sk_kokkos INTERFACE ${_lib})
    endif()
  endforeach()
endif()
