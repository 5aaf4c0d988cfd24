// MPI for the lifetime of the program. Single-process runs need no launcher.
#pragma once
#include <mpi.h>

namespace sk {

class MpiEnv {
 public:
  MpiEnv(int* argc, char*** argv) {
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiEnv() { MPI_Finalize(); }
  MpiEnv(const MpiEnv&) = delete;
  MpiEnv& operator=(const MpiEnv&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace sk
