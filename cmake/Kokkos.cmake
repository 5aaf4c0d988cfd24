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
#
# SK_BACKEND (serial, openmp, threads, cuda, hip, sycl) and SK_ARCH (a Kokkos
# architecture such as HOPPER90) state what the build is for; configuring
# fails, naming both sides, when the Kokkos found was built otherwise. Empty:
# whatever the Kokkos found offers.
set(SK_BACKEND "" CACHE STRING "Kokkos backend the build must run on: serial, openmp, threads, cuda, hip, sycl (empty: any)")
set(SK_ARCH "" CACHE STRING "Kokkos architecture the install must target, e.g. HOPPER90 or AMPERE80 (empty: any)")
find_package(Kokkos REQUIRED)
find_package(KokkosKernels REQUIRED)

# SK_KOKKOS_BACKEND: the backend programs run on by default, the first of
# these the install has (the tests use it too).
set(SK_KOKKOS_BACKEND "")
foreach(_dev CUDA HIP SYCL OPENMPTARGET OPENMP THREADS HPX SERIAL)
  if(_dev IN_LIST Kokkos_DEVICES)
    string(TOLOWER ${_dev} SK_KOKKOS_BACKEND)
    break()
  endif()
endforeach()
string(REPLACE ";" ", " _sk_devices "${Kokkos_DEVICES}")
string(REPLACE ";" ", " _sk_archs "${Kokkos_ARCH}")
set(_sk_have "the Kokkos ${Kokkos_VERSION} in ${Kokkos_DIR} runs on ${SK_KOKKOS_BACKEND} (backends: ${_sk_devices}; architectures: ${_sk_archs})")
if(_sk_archs STREQUAL "")
  string(REPLACE "architectures: )" "no architecture set)" _sk_have "${_sk_have}")
endif()
message(STATUS "Kokkos: ${_sk_have}")
string(TOLOWER "${SK_BACKEND}" _sk_want)
if(_sk_want AND NOT _sk_want STREQUAL SK_KOKKOS_BACKEND)
  message(FATAL_ERROR "SK_BACKEND=${SK_BACKEND} was asked for, but ${_sk_have}. "
                      "Point Kokkos_ROOT at a Kokkos built for ${SK_BACKEND} (scripts/build_kokkos.sh --backend ${_sk_want}).")
endif()
if(SK_ARCH)
  string(TOUPPER "${SK_ARCH}" _sk_arch)
  set(_sk_arch_found FALSE)
  foreach(_arch IN LISTS Kokkos_ARCH)
    string(TOUPPER "${_arch}" _arch)
    if(_arch STREQUAL _sk_arch)
      set(_sk_arch_found TRUE)
    endif()
  endforeach()
  if(NOT _sk_arch_found)
    message(FATAL_ERROR "SK_ARCH=${SK_ARCH} was asked for, but ${_sk_have}. "
                        "Point Kokkos_ROOT at a Kokkos built for ${SK_ARCH} (scripts/build_kokkos.sh --arch ${_sk_arch}).")
  endif()
endif()
# A CUDA Kokkos routes the sources of targets that use it through nvcc_wrapper
# by itself (kokkos_launch_compiler); the rest (sk_core, sk_io) needs the host
# compiler, so CMAKE_CXX_COMPILER must not be nvcc_wrapper.
if(Kokkos_ENABLE_CUDA AND COMMAND kokkos_compiler_is_nvcc)
  kokkos_compiler_is_nvcc(_sk_cxx_is_nvcc ${CMAKE_CXX_COMPILER})
  if(_sk_cxx_is_nvcc)
    message(FATAL_ERROR "CMAKE_CXX_COMPILER is nvcc (${CMAKE_CXX_COMPILER}), which cannot compile the host-only "
                        "sources (toml++). Configure with the host compiler (e.g. -DCMAKE_CXX_COMPILER=g++ or none): "
                        "Kokkos sends the sources that use it through nvcc_wrapper itself.")
  endif()
endif()

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
