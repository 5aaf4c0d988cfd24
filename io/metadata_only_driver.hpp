// An HDF5 file driver for files whose chunks the program writes itself.
//
// Through it the library creates the file, allocates every chunk of every
// dataset and writes the metadata that indexes them (object headers,
// attributes, chunk indexes). While a RawDataSkipped object lives, it skips
// writes of datasets' raw data (H5FD_MEM_DRAW): around H5Dwrite_chunk, the
// library allocates and indexes the chunk but no bytes are written. The
// program then writes each chunk, checksum included, at the address the
// library reports (H5Dget_chunk_info_by_coord), from whichever processes hold
// the data: HDF5 1.10 cannot write finished chunks through MPI-IO, and this
// way each rank writes its own with no data passing through the library.
// Everything else is POSIX I/O, as with the library's default driver, and the
// file is an ordinary HDF5 file.
#pragma once
#include <hdf5.h>

namespace sk {

// A new file access property list (the caller closes it) for this driver.
hid_t metadata_only_access();

// Raw data writes through the driver are skipped while one of these lives
// (on this thread); outside it everything is written. Keep the scope to the
// chunk calls, and keep variable-length data out of files laid out this way:
// the library stores it as raw data too (its global heap), and may write a
// cached heap collection during any call, a skipped one included.
class RawDataSkipped {
 public:
  RawDataSkipped();
  ~RawDataSkipped();
  RawDataSkipped(const RawDataSkipped&) = delete;
  RawDataSkipped& operator=(const RawDataSkipped&) = delete;
};

}  // namespace sk
