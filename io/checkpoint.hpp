// Checkpoints: one HDF5 file holding everything a run needs to continue exactly
// (format: docs/checkpoint.md). It extends the weights format, so a checkpoint
// is also a weights file:
//   /config, /model/<name>           as in a weights file
//   /optimizer (attribute type)      /optimizer/<state>/<name> in the parameters' shapes
//   /state (attributes)              step, data position, seed, the resolved deck
// Rank 0 lays the file out with HDF5 (metadata only); then every rank writes
// the chunks it holds through MPI-IO, each byte once: the parameters divided
// among ranks, partitioned optimizer state (ZeRO-1) by the ranks holding it.
// Every dataset is chunked with HDF5's Fletcher32 checksum, so the library
// detects damaged data on read. The layout and reading are
// checkpoint_format.cpp, the parallel writer checkpoint_writer.cpp, the
// checksum checksum.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "choices.hpp"
#include "config.hpp"
#include "parameters.hpp"

namespace sk {

constexpr int checkpoint_format_version = 1;

struct TrainingState {
  std::int64_t step = 0;           // optimizer steps done
  std::uint64_t data_position = 0; // sequences consumed
  std::uint64_t seed = 0;
  std::string deck;                // the resolved input deck (TOML)
};

// Host buffers of one rank. params: the whole flat buffer; each optimizer
// state buffer covers [partition_begin, partition_end) of the flat layout.
struct CheckpointData {
  const float* params;
  OptimizerType optimizer_type;
  std::vector<std::pair<std::string, const float*>> optimizer_state;
  std::size_t partition_begin, partition_end;
  bool partitioned;  // the state differs between ranks (ZeRO-1): each writes its partition
  TrainingState state;
};

// Collective over MPI_COMM_WORLD. Writes `path` through a temporary name in the
// same folder, renamed into place when complete. Throws sk::Error on failure
// (the temporary file is removed; an existing `path` is untouched).
void write_checkpoint(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                      const CheckpointData& data);

struct CheckpointInfo {
  GPT2Config config;
  OptimizerType optimizer_type;
  TrainingState state;
};

// The state a checkpoint of this optimizer holds, /optimizer/<state>/<name>,
// named as the optimizers name it (src/train/optimizer.cpp).
std::vector<std::string> optimizer_state_names(OptimizerType type);

// The configuration, optimizer type and training state; throws sk::Error if
// the file is not a readable checkpoint.
CheckpointInfo read_checkpoint_info(const std::string& path);

// Reads the parameters (all of them) and this rank's range of the optimizer
// state into host buffers laid out as in CheckpointData. No MPI: each rank
// reads its own part; the caller agrees on the outcome over ranks. Every
// dataset's checksum is verified; throws sk::Error naming what is wrong.
void read_checkpoint(const std::string& path, const ParameterLayout& layout, float* params,
                     const std::vector<std::pair<std::string, float*>>& optimizer_state, std::size_t partition_begin,
                     std::size_t partition_end);

}  // namespace sk
