// Small RAII wrapper for HDF5 identifiers, and the library's error printing
// turned off: failures become sk::Error messages that name the file and object.
#pragma once
#include <hdf5.h>

#include <cmath>
#include <cstddef>
#include <fstream>
#include <string>
#include <utility>

#include "../src/error.hpp"

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
