# oneDNN's library and headers found without its package config (which needs
# OpenCL where oneDNN was built with a GPU runtime). Defines DNNL::dnnl,
# dnnl_FOUND, dnnl_VERSION and DNNL_CPU_THREADING_RUNTIME as the config does.
find_library(SK_DNNL_LIBRARY NAMES dnnl)
find_path(SK_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
if(SK_DNNL_LIBRARY AND SK_DNNL_INCLUDE_DIR)
  set(dnnl_FOUND TRUE)
  file(STRINGS "${SK_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" _sk_dnnl_v REGEX "#define DNNL_VERSION_(MAJOR|MINOR|PATCH) ")
  string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*PATCH ([0-9]+).*" "\\1.\\2.\\3" dnnl_VERSION "${_sk_dnnl_v}")
  file(STRINGS "${SK_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_config.h" _sk_dnnl_rt REGEX "#define DNNL_CPU_THREADING_RUNTIME ")
  if(_sk_dnnl_rt MATCHES "DNNL_RUNTIME_OMP")
    set(DNNL_CPU_THREADING_RUNTIME OMP)
  endif()
  add_library(DNNL::dnnl UNKNOWN IMPORTED)
  set_target_properties(DNNL::dnnl PROPERTIES IMPORTED_LOCATION "${SK_DNNL_LIBRARY}"
                                              INTERFACE_INCLUDE_DIRECTORIES "${SK_DNNL_INCLUDE_DIR}")
elseif(_sk_onednn STREQUAL "ON")
  message(FATAL_ERROR "SK_ONEDNN=ON: oneDNN (libdnnl and oneapi/dnnl/dnnl.hpp) not found")
endif()
