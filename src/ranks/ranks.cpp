#include "ranks.hpp"

#include <chrono>
#include <thread>

namespace sk {

bool failed_on_any_rank(MPI_Comm comm, bool failed) {
  int any = failed ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, comm);
  return any != 0;
}

void broadcast_from_root(MPI_Comm comm, void* data, int count, MPI_Datatype type) {
  MPI_Request request;
  MPI_Ibcast(data, count, type, 0, comm, &request);
  for (int done = 0; MPI_Test(&request, &done, MPI_STATUS_IGNORE), !done;)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

std::string broadcast_error(MPI_Comm comm, std::string message) {
  int length = int(message.size());
  broadcast_from_root(comm, &length, 1, MPI_INT);
  message.resize(length);
  MPI_Bcast(message.data(), length, MPI_CHAR, 0, comm);
  return message;
}

}  // namespace sk
