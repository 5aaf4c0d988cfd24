#include "reference_data.hpp"

#include <stdexcept>

#include "hdf5_handle.hpp"

namespace sk::test {

std::vector<double> read_dataset(const std::string& path, const std::string& name) {
  H5Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  H5Handle d(H5Dopen2(f.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) throw std::runtime_error("no dataset " + name + " in " + path);
  H5Handle space(H5Dget_space(d.get()), H5Sclose);
  std::vector<double> v(H5Sget_simple_extent_npoints(space.get()));
  H5Dread(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  return v;
}

long read_root_attribute(const std::string& path, const std::string& name) {
  H5Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  H5Handle a(H5Aopen(f.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.valid()) throw std::runtime_error("no attribute " + name + " in " + path);
  long v = 0;
  H5Aread(a.get(), H5T_NATIVE_LONG, &v);
  return v;
}

}  // namespace sk::test
