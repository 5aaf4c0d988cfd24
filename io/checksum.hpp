// HDF5's Fletcher32 checksum (H5Z_FILTER_FLETCHER32), which every chunk of a
// checkpoint carries: the parallel writer computes it for the chunks it writes
// itself, and the library checks it on read.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sk {

// The checksum of a chunk's bytes, as the library computes it when writing
// and checks it when reading.
std::uint32_t fletcher32(const unsigned char* data, std::size_t bytes);

}  // namespace sk
