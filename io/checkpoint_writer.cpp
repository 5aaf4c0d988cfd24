// The checkpoint's parallel writer: rank 0 lays the file out
// (checkpoint_format.cpp), then every rank writes the chunks it holds through
// MPI-IO, each byte once, and rank 0 renames the complete file into place.
#include <mpi.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "checkpoint_format.hpp"
#include "checksum.hpp"
#include "error.hpp"
#include "hdf5_handle.hpp"
#include "ranks.hpp"

namespace sk {
namespace {

// A test hook for fault tests: SOPHIA_KOKKOS_CHECKPOINT_DELAY_MS slows the
// writing of every dataset, so that a kill can land inside a checkpoint write.
void test_delay() {
  static const char* delay = std::getenv("SOPHIA_KOKKOS_CHECKPOINT_DELAY_MS");
  if (delay) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(delay)));
}

// fsync of a file or folder ("" is the working directory).
bool sync_file(const std::string& path) {
  const int fd = ::open(path.empty() ? "." : path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Refuses to start a write that cannot fit: HDF5 cannot close a file whose
// metadata it failed to write, and such a file would stay half-open until the
// program ends. Rank 0 checks the folder and tells the others.
void check_free_space(const std::string& path, std::size_t bytes, int rank) {
  const double needed = double(bytes);
  double available = needed;
  if (rank == 0) {
    struct statvfs fs {};
    const std::string dir = std::filesystem::path(path).parent_path().string();
    if (statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0) available = double(fs.f_bavail) * fs.f_frsize;
  }
  MPI_Bcast(&available, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (available < needed)
    throw Error("not enough space for " + path + ": it needs about " + std::to_string(long(needed / 1e6)) +
                " MB, the disk has " + std::to_string(long(available / 1e6)) + " MB free (disk full?)");
}

// Every rank's [begin, end) of the flat layout in its optimizer state buffers.
std::vector<std::size_t> partition_bounds(const CheckpointData& data) {
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const unsigned long long mine[2] = {data.partition_begin, data.partition_end};
  std::vector<unsigned long long> all(2 * std::size_t(ranks));
  MPI_Allgather(mine, 2, MPI_UNSIGNED_LONG_LONG, all.data(), 2, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
  return std::vector<std::size_t>(all.begin(), all.end());
}

// Data that every rank holds: the parameters, and unpartitioned optimizer state.
bool replicated(const Chunk& c, bool partitioned) { return c.state < 0 || !partitioned; }

// The flat range of chunk c's elements that rank r holds: all of them for
// replicated data, else those in r's partition.
std::pair<std::size_t, std::size_t> held_part(const Chunk& c, bool partitioned, const std::vector<std::size_t>& bounds,
                                              int r) {
  const std::size_t x0 = c.flat_first(), x1 = x0 + c.count;
  if (replicated(c, partitioned)) return {x0, x1};
  const std::size_t a = std::max(x0, bounds[2 * r]), b = std::min(x1, bounds[2 * r + 1]);
  return {a, std::max(a, b)};
}

// The rank that writes each chunk. Replicated data is divided into runs of
// equal bytes; a chunk of partitioned state is written by the rank holding its
// first element, which receives the parts that other ranks hold.
std::vector<int> chunk_writers(const std::vector<Chunk>& chunks, bool partitioned, const std::vector<std::size_t>& bounds) {
  const int ranks = int(bounds.size() / 2);
  std::size_t total = 0, before = 0;
  for (const auto& c : chunks)
    if (replicated(c, partitioned)) total += c.bytes();
  std::vector<int> writers;
  for (const auto& c : chunks) {
    int w = 0;
    if (replicated(c, partitioned)) {
      w = int(std::min<std::size_t>(ranks - 1, before * ranks / total));
      before += c.bytes();
    } else {
      const std::size_t x = c.flat_first();
      while (w + 1 < ranks && !(bounds[2 * w] <= x && x < bounds[2 * w + 1])) ++w;
    }
    writers.push_back(w);
  }
  return writers;
}

// Where flat element x lies in this rank's memory (parameters, or state s).
const float* element(const CheckpointData& data, int state, std::size_t x) {
  return state < 0 ? data.params + x : data.optimizer_state[state].second + (x - data.partition_begin);
}

// Chunk c's stored bytes, checksum excluded: straight from the writer's
// memory where it holds all of them and there is no padding, else put
// together in `staging` from its own part, the parts other ranks send, and
// zeros.
const unsigned char* chunk_bytes(const Chunk& c, const CheckpointData& data, const std::vector<std::size_t>& bounds,
                                 int rank, std::vector<float>& staging) {
  const std::size_t x0 = c.flat_first();
  const auto [a, b] = held_part(c, data.partitioned, bounds, rank);
  const float* own = element(data, c.state, a);
  if (a == x0 && b - a == c.elements) return reinterpret_cast<const unsigned char*>(own);
  staging.assign(c.elements, 0.0f);
  std::copy(own, own + (b - a), staging.data() + (a - x0));
  if (!replicated(c, data.partitioned))
    for (int r = 0; r < int(bounds.size() / 2); ++r) {
      const auto [ra, rb] = held_part(c, true, bounds, r);
      if (r != rank && ra < rb)
        MPI_Recv(staging.data() + (ra - x0), int(rb - ra), MPI_FLOAT, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
  return reinterpret_cast<const unsigned char*>(staging.data());
}

bool write_at(MPI_File file, std::uint64_t offset, const void* bytes, std::size_t n) {
  MPI_Status status;
  int written = 0;
  return MPI_File_write_at(file, MPI_Offset(offset), bytes, int(n), MPI_BYTE, &status) == MPI_SUCCESS &&
         MPI_Get_count(&status, MPI_BYTE, &written) == MPI_SUCCESS && std::size_t(written) == n;
}

// Writes a chunk's bytes and then their Fletcher32 checksum, little-endian,
// as HDF5's filter stores it.
bool write_chunk(MPI_File file, std::uint64_t address, const unsigned char* bytes, std::size_t n) {
  const std::uint32_t sum = fletcher32(bytes, n);
  const unsigned char tail[4] = {static_cast<unsigned char>(sum), static_cast<unsigned char>(sum >> 8),
                                 static_cast<unsigned char>(sum >> 16), static_cast<unsigned char>(sum >> 24)};
  return write_at(file, address, bytes, n) && write_at(file, address + n, tail, 4);
}

// Collective. Every rank writes the chunks it is the writer of through
// MPI-IO, at the addresses rank 0's layout gave them, and sends the parts of
// other ranks' chunks that it holds; then all data is synced to disk. False
// on every rank if any rank failed.
bool write_data(const std::string& tmp, const std::vector<Chunk>& chunks, const std::vector<std::uint64_t>& addresses,
                const CheckpointData& data, int rank) {
  const std::vector<std::size_t> bounds = partition_bounds(data);
  const std::vector<int> writers = chunk_writers(chunks, data.partitioned, bounds);
  std::vector<MPI_Request> sends;  // posted first, so that no rank waits on another's order
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto [a, b] = held_part(chunks[i], data.partitioned, bounds, rank);
    if (replicated(chunks[i], data.partitioned) || writers[i] == rank || a == b) continue;
    sends.emplace_back();
    MPI_Isend(element(data, chunks[i].state, a), int(b - a), MPI_FLOAT, writers[i], 0, MPI_COMM_WORLD, &sends.back());
  }
  MPI_File file = MPI_FILE_NULL;
  bool failed = failed_on_any_rank(
      MPI_COMM_WORLD, MPI_File_open(MPI_COMM_WORLD, tmp.c_str(), MPI_MODE_WRONLY, MPI_INFO_NULL, &file) != MPI_SUCCESS);
  // Closing is collective: where some ranks could not open the file (a folder
  // not visible from every node), the others leave their handles open rather
  // than wait in a close the failed ranks never reach.
  const bool opened = !failed;
  std::vector<float> staging;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].first == 0) test_delay();
    if (writers[i] != rank) continue;
    const unsigned char* bytes = chunk_bytes(chunks[i], data, bounds, rank, staging);  // receives even after a failure
    if (!failed) failed = !write_chunk(file, addresses[i], bytes, chunks[i].elements * sizeof(float));
  }
  MPI_Waitall(int(sends.size()), sends.data(), MPI_STATUSES_IGNORE);
  if (opened) {  // both collective: every rank calls both, whatever the first returns
    const bool synced = MPI_File_sync(file) == MPI_SUCCESS;
    const bool closed = MPI_File_close(&file) == MPI_SUCCESS;
    if (!synced || !closed) failed = true;
  }
  return !failed_on_any_rank(MPI_COMM_WORLD, failed);
}

}  // namespace

void write_checkpoint(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                      const CheckpointData& data) {
  hdf5_quiet();
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string tmp = path + ".tmp";
  const std::size_t states = data.optimizer_state.size(), datasets = layout.tensors().size() * (1 + states);
  const std::vector<Chunk> chunks = file_chunks(layout, states);
  check_free_space(path, file_bytes(chunks, datasets), rank);
  // Rank 0 lays the file out; then every rank writes the chunks it holds,
  // so that each byte is written once, and in parallel.
  std::vector<std::uint64_t> addresses(chunks.size());
  std::string error;
  if (rank == 0) {
    try {
      addresses = lay_out_file(tmp, config, data, chunks, datasets);
    } catch (const std::exception& e) {  // any failure: the other ranks wait for word of it
      error = e.what();
      std::remove(tmp.c_str());
    }
  }
  if (!(error = broadcast_error(MPI_COMM_WORLD, error)).empty()) throw Error(error);
  MPI_Bcast(addresses.data(), int(addresses.size()), MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (!write_data(tmp, chunks, addresses, data, rank)) {
    if (rank == 0) std::remove(tmp.c_str());
    throw Error("cannot write " + tmp + " (disk full?)");
  }
  // The data is on disk (synced by every rank; rank 0's sync also covers the
  // metadata it wrote from this node through the layout driver) before the
  // name is, and the name before anyone is told: a power loss or node crash
  // leaves the old checkpoint or the new one, never a renamed file with
  // missing data.
  int failed = 0;
  if (rank == 0 &&
      (std::rename(tmp.c_str(), path.c_str()) != 0 || !sync_file(std::filesystem::path(path).parent_path().string()))) {
    std::remove(tmp.c_str());
    failed = 1;
  }
  broadcast_from_root(MPI_COMM_WORLD, &failed, 1, MPI_INT);
  if (failed) throw Error("cannot rename " + tmp + " to " + path);
}

}  // namespace sk
