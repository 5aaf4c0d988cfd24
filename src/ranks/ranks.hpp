// Agreement among MPI ranks: the vote every rank takes before acting on work
// that may fail on some ranks only, and rank 0's word to the others. The
// lowest layer that uses MPI, so that io (the checkpoint writer) and parallel
// share one implementation.
#pragma once
#include <mpi.h>

#include <string>

namespace sk {

// Whether `failed` holds on any rank of comm (collective).
bool failed_on_any_rank(MPI_Comm comm, bool failed);

// MPI_Bcast from rank 0 for ranks that wait while rank 0 works on a file:
// they sleep between polls instead of spinning, which leaves their cores to
// the kernel threads that write files out.
void broadcast_from_root(MPI_Comm comm, void* data, int count, MPI_Datatype type);

// Rank 0's error message (empty: none) to every rank of comm.
std::string broadcast_error(MPI_Comm comm, std::string message);

}  // namespace sk
