// The layout of a checkpoint file, shared by its reader (checkpoint_format.cpp)
// and its parallel writer (checkpoint_writer.cpp); callers use checkpoint.hpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint.hpp"

namespace sk {

// One chunk of a dataset: elements [first, first + count) of a tensor's
// parameters (state < 0) or of optimizer state `state`, stored padded with
// zeros to `elements` (HDF5 stores edge chunks whole) and followed by its
// Fletcher32 checksum.
struct Chunk {
  const TensorSpec* tensor;
  int state;
  std::size_t first, count, elements;
  std::size_t bytes() const { return elements * sizeof(float) + 4; }
  std::size_t flat_first() const { return tensor->offset + first; }  // in the flat layout
};

// Every chunk of a checkpoint with `states` optimizer buffers, in the order
// the file lays them out: the model's tensors, then each state's.
std::vector<Chunk> file_chunks(const ParameterLayout& layout, std::size_t states);

// The size of a checkpoint file: its chunks, and room for the metadata
// (object headers and chunk indexes) of its datasets.
std::size_t file_bytes(const std::vector<Chunk>& chunks, std::size_t datasets);

// Rank 0 alone creates the file through the metadata-only driver: its space
// reserved, its attributes, and every dataset with its chunks allocated but
// not yet written. Returns each chunk's address, in the order of `chunks`.
// The writer then fills each chunk, Fletcher32 checksum included.
std::vector<std::uint64_t> lay_out_file(const std::string& tmp, const GPT2Config& config, const CheckpointData& data,
                                        const std::vector<Chunk>& chunks, std::size_t datasets);

}  // namespace sk
