#include "weights.hpp"

#include <cstdint>
#include <type_traits>
#include <vector>

#include "error.hpp"
#include "files.hpp"
#include "hdf5_handle.hpp"

namespace sk {
namespace {

template <class T>
hid_t native_type() {
  return std::is_same<T, double>::value ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
}

H5Handle open_file(const std::string& path) { return open_hdf5_readonly(path, "weights file"); }

// Writes an HDF5 file under a temporary name and renames it into place, so a
// reader never sees a half-written file and a failed write leaves the old one.
template <class Body>
void write_file_atomically(const std::string& path, Body body) {
  hdf5_quiet();
  StagedFiles out;
  const std::string tmp = out.stage(path);
  {
    H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (!use_checksummed_format(fapl.get())) throw Error("cannot create " + tmp + ": HDF5 refused its file format");
    H5Handle f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
    if (!f.valid()) throw Error("cannot create " + tmp + " (is the folder writable?)");
    body(f.get());
    if (H5Fflush(f.get(), H5F_SCOPE_GLOBAL) < 0) throw Error("cannot write " + tmp + " (disk full?)");
  }
  out.commit();
}

// One float32 dataset per tensor, in its stored (unpadded) shape: row-major,
// so the stored rows are a prefix of the tensor in the flat buffer.
template <class T>
void write_tensors(hid_t file, const std::string& path, const char* group, const ParameterLayout& layout,
                   const T* host) {
  H5Handle g(H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  for (const auto& t : layout.tensors()) {
    std::vector<hsize_t> dims(t.stored.begin(), t.stored.end());
    H5Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
    H5Handle d(H5Dcreate2(g.get(), t.name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT),
               H5Dclose);
    if (!d.valid() || H5Dwrite(d.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, host + t.offset) < 0)
      throw Error("cannot write /" + std::string(group) + "/" + t.name + " to " + path + " (disk full?)");
  }
}

// Throws when group `g` holds a link that is no tensor of the layout (a
// misspelt name would otherwise be ignored).
void refuse_unknown_tensors(hid_t g, const std::string& where, const ParameterLayout& layout) {
  H5G_info_t info;
  if (H5Gget_info(g, &info) < 0) throw Error(where + " cannot be read (damaged file?)");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) throw Error(where + " cannot be read (damaged file?)");
    std::string name(std::size_t(n), '\0');
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), std::size_t(n) + 1, H5P_DEFAULT);
    if (!layout.contains(name)) throw Error(where + "/" + name + " is not a parameter of this model");
  }
}

}  // namespace

void write_config_group(hid_t file, const GPT2Config& config) {
  H5Handle g(H5Gcreate2(file, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  for (const ModelField& f : model_fields) {
    const std::int64_t v = config.*f.member;
    H5Handle a(H5Acreate2(g.get(), f.name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a.valid() || H5Awrite(a.get(), H5T_NATIVE_INT64, &v) < 0)
      throw Error("cannot write /config/" + std::string(f.name) + " (disk full?)");
  }
}

GPT2Config read_config(const std::string& path) {
  H5Handle f = open_file(path);
  if (H5Lexists(f.get(), "config", H5P_DEFAULT) <= 0) throw Error(path + ": missing group /config");
  H5Handle g = open_object(f.get(), "config", H5I_GROUP, path + ": /config");
  GPT2Config c;
  for (const ModelField& f : model_fields) {
    const std::string where = path + ": /config attribute " + f.name;
    if (H5Aexists(g.get(), f.name) <= 0) throw Error(where + " is missing");
    H5Handle a(H5Aopen(g.get(), f.name, H5P_DEFAULT), H5Aclose);
    H5Handle type(H5Aget_type(a.get()), H5Tclose);
    H5Handle space(H5Aget_space(a.get()), H5Sclose);
    if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
      throw Error(where + " is not an integer scalar");
    std::int64_t v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) throw Error(where + " cannot be read");
    if (v < INT32_MIN || v > INT32_MAX) throw Error(where + " is out of range: " + std::to_string(v));
    c.*f.member = int(v);
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return c;
}

template <class T>
void read_tensors(const std::string& path, const std::string& group, const ParameterLayout& layout, T* host,
                  bool only_these) {
  H5Handle f = open_file(path);
  if (H5Lexists(f.get(), group.c_str(), H5P_DEFAULT) <= 0) throw Error(path + ": missing group /" + group);
  H5Handle g = open_object(f.get(), group, H5I_GROUP, path + ": /" + group);
  for (const auto& t : layout.tensors()) {
    const std::string where = path + ": tensor /" + group + "/" + t.name;
    if (H5Lexists(g.get(), t.name.c_str(), H5P_DEFAULT) <= 0) throw Error(where + " is missing");
    H5Handle d = open_object(g.get(), t.name, H5I_DATASET, where);
    H5Handle type(H5Dget_type(d.get()), H5Tclose);
    require_ieee_float(type.get(), where);
    H5Handle space(H5Dget_space(d.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(rank > 0 ? rank : 0);
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    const std::vector<std::size_t> got(dims.begin(), dims.end());
    if (got != t.stored)
      throw Error(where + " has shape " + shape_string(got) + ", expected " + shape_string(t.stored));
    require_stored_size(d.get(), type.get(), t.stored_size(), where);
    std::fill(host + t.offset, host + t.offset + t.size(), T(0));
    if (H5Dread(d.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, host + t.offset) < 0)
      throw Error(where + " cannot be read (damaged file?)");
    require_finite(where, host + t.offset, t.size());
  }
  if (only_these) refuse_unknown_tensors(g.get(), path + ": /" + group, layout);
}

template <class T>
void read_weights(const std::string& path, const ParameterLayout& layout, T* host) {
  read_tensors(path, "model", layout, host, false);
}

template <class T>
void write_weights(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                   const T* host) {
  write_file_atomically(path, [&](hid_t f) {
    write_config_group(f, config);
    write_tensors(f, path, "model", layout, host);
  });
}

template <class T>
void write_tensor_groups(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                         double loss, const std::vector<std::pair<std::string, const T*>>& groups) {
  write_file_atomically(path, [&](hid_t f) {
    write_config_group(f, config);
    H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    H5Handle d(H5Dcreate2(f, "loss", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (!d.valid() || H5Dwrite(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &loss) < 0)
      throw Error("cannot write /loss to " + path);
    for (const auto& [group, host] : groups) write_tensors(f, path, group.c_str(), layout, host);
  });
}

template <class T>
void write_gradients(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                     const T* host, double loss) {
  write_tensor_groups<T>(path, config, layout, loss, {{"grad", host}});
}

#define SK_INSTANTIATE(T)                                                                                   \
  template void read_weights<T>(const std::string&, const ParameterLayout&, T*);                           \
  template void write_weights<T>(const std::string&, const GPT2Config&, const ParameterLayout&, const T*); \
  template void write_gradients<T>(const std::string&, const GPT2Config&, const ParameterLayout&, const T*, double); \
  template void read_tensors<T>(const std::string&, const std::string&, const ParameterLayout&, T*, bool);      \
  template void write_tensor_groups<T>(const std::string&, const GPT2Config&, const ParameterLayout&, double,    \
                                       const std::vector<std::pair<std::string, const T*>>&);
SK_INSTANTIATE(float)
SK_INSTANTIATE(double)
#undef SK_INSTANTIATE

}  // namespace sk
