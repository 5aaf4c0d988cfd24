// An HDF5 file driver for files whose chunks the program writes itself.
//
// Through it the library creates the file, allocates every chunk of every
// dataset and writes the metadata that indexes them (object headers,
// attributes, chunk indexes), but skips datasets' raw data (H5FD_MEM_DRAW).
// The program then writes each chunk, checksum included, at the address the
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

}  // namespace sk
