// Catch2 runner with Kokkos (and MPI, which the HDF5 library may need) set up
// around the whole session.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <Kokkos_Core.hpp>

#include "mpi_env.hpp"

int main(int argc, char** argv) {
  sk::MpiEnv mpi(&argc, &argv);
  Kokkos::initialize(argc, argv);
  const int result = Catch::Session().run(argc, argv);
  Kokkos::finalize();
  return result;
}
