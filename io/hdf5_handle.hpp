// Small RAII wrapper for HDF5 identifiers, and the library's error printing
// turned off: failures become sk::Error messages that name the file and object.
#pragma once
#include <hdf5.h>

#include <cmath>
#include <cstddef>
#include <fstream>
#include <string>
#include <utility>

#include "error.hpp"

namespace sk {

class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  H5Handle(H5Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  H5Handle& operator=(H5Handle&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Stops HDF5 from printing its error stack; our messages replace it.
inline void hdf5_quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// Files we write use HDF5's 1.10 file format, in which every piece of metadata
// (superblock, object headers, B-trees, heaps) carries a checksum: a damaged
// header is refused by its checksum before HDF5's parsers read it. The older
// format, HDF5's default, has none, and fuzzing finds inputs in it that crash
// HDF5 1.10 itself (tests/fuzz/hdf5_defects). Returns false if HDF5 refused.
inline bool use_checksummed_format(hid_t fapl) {
  return H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0;
}

// Opens an HDF5 file read-only; `what` names it in messages ("weights file").
// Throws sk::Error when it is missing, not HDF5, or cannot be opened.
inline H5Handle open_hdf5_readonly(const std::string& path, const std::string& what) {
  hdf5_quiet();
  if (!std::ifstream(path)) throw Error("cannot open " + what + " " + path + ": no such file or not readable");
#if H5_VERSION_GE(1, 12, 0)
  const htri_t is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
#endif
  if (is_hdf5 <= 0) throw Error(path + " is not an HDF5 file");
  H5Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.valid()) throw Error("cannot open " + what + " " + path + ": damaged or truncated");
  return f;
}

// Opens the group or dataset `name` of `parent`, whose link the caller found;
// `where` names it in messages. A header HDF5 cannot read (in files we write:
// a checksum mismatch) and an object of another kind are refused apart.
inline H5Handle open_object(hid_t parent, const std::string& name, H5I_type_t kind, const std::string& where) {
  H5Handle object(H5Oopen(parent, name.c_str(), H5P_DEFAULT), H5Oclose);
  if (!object.valid()) throw Error(where + " cannot be read: its header is damaged");
  if (H5Iget_type(object.get()) != kind) throw Error(where + (kind == H5I_GROUP ? " is not a group" : " is not a dataset"));
  return object;
}

// Refuses a dataset type other than 32- or 64-bit IEEE floats (either byte
// order), which is all the readers convert from: a damaged file can declare
// float types of other sizes and layouts that the library's conversion reads
// past its buffers (found by tests/fuzz).
inline void require_ieee_float(hid_t type, const std::string& where) {
  if (H5Tget_class(type) != H5T_FLOAT) throw Error(where + " is not floating point");
  // One comparison each: the H5T_ constants are macros with a call in them,
  // which nvcc's front end cannot take in a braced list.
  if (H5Tequal(type, H5T_IEEE_F32LE) > 0 || H5Tequal(type, H5T_IEEE_F32BE) > 0 ||
      H5Tequal(type, H5T_IEEE_F64LE) > 0 || H5Tequal(type, H5T_IEEE_F64BE) > 0)
    return;
  throw Error(where + " is not stored as 32- or 64-bit IEEE floats");
}

// Refuses a dataset whose stored bytes do not match its shape: a damaged
// header can declare compact or contiguous storage smaller than the data,
// and the library would then copy from memory it never allocated (found by
// tests/fuzz). Chunked storage is checked chunk by chunk by the library.
inline void require_stored_size(hid_t dataset, hid_t type, std::size_t elements, const std::string& where) {
  H5Handle plist(H5Dget_create_plist(dataset), H5Pclose);
  const H5D_layout_t layout = H5Pget_layout(plist.get());
  if (layout == H5D_CHUNKED) return;
  if ((layout != H5D_CONTIGUOUS && layout != H5D_COMPACT) ||
      H5Dget_storage_size(dataset) != hsize_t(elements) * H5Tget_size(type))
    throw Error(where + " is damaged: its storage does not match its shape");
}

// Refuses values read from a file that are not finite (a diverged run's
// weights, or damage that kept the checksums): `where` names the tensor, the
// message gives the first such element. x holds n elements, x[0] being the
// tensor's element `first`.
template <class T>
void require_finite(const std::string& where, const T* x, std::size_t n, std::size_t first = 0) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw Error(where + " holds " + (std::isnan(x[i]) ? "nan" : x[i] > 0 ? "inf" : "-inf") + " at element " +
                  std::to_string(first + i) + "; only finite values are accepted");
}

}  // namespace sk
