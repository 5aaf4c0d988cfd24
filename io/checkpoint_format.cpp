// The checkpoint file's HDF5 side: its layout (chunked, checksummed datasets),
// attributes, and reading. Writing the data is checkpoint_writer.cpp.
#include "checkpoint_format.hpp"

#include <fcntl.h>
#include <cerrno>

#include <algorithm>
#include <cstdint>

#include "error.hpp"
#include "hdf5_handle.hpp"
#include "metadata_only_driver.hpp"
#include "weights.hpp"

namespace sk {
namespace {

// Elements per chunk (16 MB): the unit of Fletcher32 checksums and of I/O.
constexpr hsize_t chunk_elements = hsize_t(1) << 22;

// Selects the row-major flat range [a, b) of a dataset (rank 1 or 2) in `space`.
void select_flat(hid_t space, const std::vector<hsize_t>& dims, std::size_t a, std::size_t b) {
  H5Sselect_none(space);
  if (a >= b) return;
  auto add = [space](std::vector<hsize_t> start, std::vector<hsize_t> count) {
    H5Sselect_hyperslab(space, H5S_SELECT_OR, start.data(), nullptr, count.data(), nullptr);
  };
  if (dims.size() == 1) return add({a}, {b - a});
  const hsize_t cols = dims[1], r0 = a / cols, c0 = a % cols, r1 = b / cols, c1 = b % cols;
  if (r0 == r1) return add({r0, c0}, {1, c1 - c0});
  hsize_t first_full = r0;
  if (c0 > 0) {
    add({r0, c0}, {1, cols - c0});
    ++first_full;
  }
  if (r1 > first_full) add({first_full, 0}, {r1 - first_full, cols});
  if (c1 > 0) add({r1, 0}, {1, c1});
}

// The memory side of a transfer of the flat range [a, b): a dataspace of the
// dataset's own shape with the same selection, over a buffer that holds
// element a at its start (see shifted). Matching shapes let HDF5 copy whole
// rows instead of walking the selection element by element.
H5Handle memory_space(const std::vector<hsize_t>& dims, std::size_t a, std::size_t b) {
  H5Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  select_flat(space.get(), dims, a, b);
  return space;
}

// The address that element 0 of the tensor would have if `data` held element
// a: HDF5 only touches the selected elements, which lie inside the buffer.
template <class T>
T* shifted(T* data, std::size_t a) {
  return data ? reinterpret_cast<T*>(reinterpret_cast<std::uintptr_t>(data) - a * sizeof(float)) : nullptr;
}

// A tensor's chunk shape: whole rows, about chunk_elements of them.
std::vector<hsize_t> chunk_shape(const std::vector<hsize_t>& dims) {
  std::vector<hsize_t> chunk = dims;
  if (dims.size() == 1) chunk[0] = std::min(dims[0], chunk_elements);
  else chunk[0] = std::clamp<hsize_t>(chunk_elements / dims[1], 1, dims[0]);
  return chunk;
}

hid_t dataset_creation(const std::vector<hsize_t>& dims) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const std::vector<hsize_t> chunk = chunk_shape(dims);
  H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
  H5Pset_fletcher32(dcpl);
  return dcpl;
}

// Elements in a row of a tensor's stored shape (1 for a vector).
std::size_t row_size(const TensorSpec& t) { return t.stored_size() / t.stored[0]; }

// Elements in one of a tensor's chunks. Chunks span whole rows, so each one is
// a contiguous run of the tensor.
std::size_t chunk_size(const TensorSpec& t) {
  const std::vector<hsize_t> dims(t.stored.begin(), t.stored.end());
  return row_size(t) * chunk_shape(dims)[0];
}

// A tensor's chunked, checksummed dataset.
H5Handle create_dataset(hid_t group, const TensorSpec& t, const std::string& where) {
  const std::vector<hsize_t> dims(t.stored.begin(), t.stored.end());
  H5Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle dcpl(dataset_creation(dims), H5Pclose);
  H5Handle d(H5Dcreate2(group, t.name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
             H5Dclose);
  if (!d.valid()) throw Error("cannot create " + where + t.name);
  return d;
}

// Has the library allocate chunk c of dataset d as a finished chunk of its
// stored size (H5Dwrite_chunk; the metadata-only driver skips the bytes) and
// returns its address in the file. `placeholder` is never read or written.
std::uint64_t allocate_chunk(hid_t d, const Chunk& c, std::vector<unsigned char>& placeholder,
                             const std::string& where) {
  if (placeholder.size() < c.bytes()) placeholder.resize(c.bytes());
  std::vector<hsize_t> offset(c.tensor->stored.size(), 0);
  offset[0] = c.first / row_size(*c.tensor);
  unsigned filters = 0;
  haddr_t address = HADDR_UNDEF;
  hsize_t size = 0;
  const bool allocated = [&] {
    RawDataSkipped skipped;
    return H5Dwrite_chunk(d, H5P_DEFAULT, 0, offset.data(), c.bytes(), placeholder.data()) >= 0;
  }();
  if (!allocated || H5Dget_chunk_info_by_coord(d, offset.data(), &filters, &address, &size) < 0 || size != c.bytes())
    throw Error("cannot lay out " + where + c.tensor->name + " (disk full?)");
  return address;
}

void write_string_attribute(hid_t object, const char* name, const std::string& value) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<std::size_t>(value.size(), 1));
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle a(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.get(), type.get(), value.c_str()) < 0)
    throw Error(std::string("cannot write attribute ") + name);
}

template <class T>
void write_attribute(hid_t object, const char* name, hid_t file_type, hid_t mem_type, T value) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle a(H5Acreate2(object, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.get(), mem_type, &value) < 0) throw Error(std::string("cannot write attribute ") + name);
}

std::string read_string_attribute(hid_t object, const char* name, const std::string& where) {
  if (H5Aexists(object, name) <= 0) throw Error(where + ": attribute " + name + " is missing");
  H5Handle a(H5Aopen(object, name, H5P_DEFAULT), H5Aclose);
  H5Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0)
    throw Error(where + ": attribute " + name + " is not a string");
  std::string value(H5Tget_size(type.get()), '\0');
  if (H5Aread(a.get(), type.get(), value.data()) < 0) throw Error(where + ": attribute " + name + " cannot be read");
  return value.substr(0, value.find('\0'));
}

template <class T>
T read_attribute(hid_t object, const char* name, hid_t mem_type, const std::string& where) {
  if (H5Aexists(object, name) <= 0) throw Error(where + ": attribute " + name + " is missing");
  H5Handle a(H5Aopen(object, name, H5P_DEFAULT), H5Aclose);
  H5Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) throw Error(where + ": attribute " + name + " is not an integer");
  T value{};
  if (H5Aread(a.get(), mem_type, &value) < 0) throw Error(where + ": attribute " + name + " cannot be read");
  return value;
}

// The attribute `type` of /optimizer, one of the optimizers' names.
OptimizerType read_optimizer_type(hid_t optimizer, const std::string& where) {
  const std::string name = read_string_attribute(optimizer, "type", where);
  if (const std::optional<OptimizerType> type = named<OptimizerType>(name)) return *type;
  throw Error(where + ": optimizer type '" + name + "' is not one of " + listed_names<OptimizerType>());
}

H5Handle open_group(hid_t parent, const std::string& name, const std::string& where) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) <= 0) throw Error(where + ": group /" + name + " is missing");
  return open_object(parent, name, H5I_GROUP, where + ": /" + name);
}

// Reads the flat range [a, b) of a tensor's dataset, checking its type and
// shape; the library verifies the chunks' checksums.
void read_part(hid_t group, const std::string& group_name, const TensorSpec& t, float* out, std::size_t a,
               std::size_t b, const std::string& path) {
  const std::string where = path + ": /" + group_name + "/" + t.name;
  if (H5Lexists(group, t.name.c_str(), H5P_DEFAULT) <= 0) throw Error(where + " is missing");
  H5Handle d = open_object(group, t.name, H5I_DATASET, where);
  H5Handle type(H5Dget_type(d.get()), H5Tclose);
  require_ieee_float(type.get(), where);
  H5Handle fspace(H5Dget_space(d.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(fspace.get());
  std::vector<hsize_t> dims(std::max(rank, 0));
  if (rank > 0) H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr);
  if (std::vector<std::size_t>(dims.begin(), dims.end()) != t.stored) throw Error(where + " has the wrong shape");
  require_stored_size(d.get(), type.get(), t.stored_size(), where);
  if (a >= b) return;
  select_flat(fspace.get(), dims, a, b);
  H5Handle mspace = memory_space(dims, a, b);
  if (H5Dread(d.get(), H5T_NATIVE_FLOAT, mspace.get(), fspace.get(), H5P_DEFAULT, shifted(out, a)) < 0)
    throw Error(where + " cannot be read: damaged (checksum mismatch or truncated file)");
  require_finite(where, out, b - a, a);
}

H5Handle open_checkpoint(const std::string& path) { return open_hdf5_readonly(path, "checkpoint"); }

// Reserves the file's blocks before anything is written (fallocate, keeping
// the file's size), so that a disk filled by another program during the write
// cannot fail it halfway (HDF5 1.10 cannot close a file whose metadata it
// failed to write, and crashes at exit over it). Where the file system cannot
// reserve, the write goes on without.
void reserve_space(hid_t file, const std::string& tmp, std::size_t bytes) {
#ifdef __linux__
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || !handle) return;
  if (fallocate(*static_cast<int*>(handle), FALLOC_FL_KEEP_SIZE, 0, off_t(bytes)) != 0 && errno == ENOSPC)
    throw Error("not enough space for " + tmp + ": it needs about " + std::to_string(bytes / 1000000) +
                " MB (disk full?)");
#endif
}
}  // namespace

// Every chunk of a checkpoint with `states` optimizer buffers, in the order
// the file lays them out: the model's tensors, then each state's.
std::vector<Chunk> file_chunks(const ParameterLayout& layout, std::size_t states) {
  std::vector<Chunk> chunks;
  for (int s = -1; s < int(states); ++s)
    for (const auto& t : layout.tensors()) {
      const std::size_t per_chunk = chunk_size(t), total = t.stored_size();
      for (std::size_t first = 0; first < total; first += per_chunk)
        chunks.push_back({&t, s, first, std::min(per_chunk, total - first), per_chunk});
    }
  return chunks;
}

// The size of a checkpoint file: its chunks, and room for the metadata
// (object headers and chunk indexes) of its datasets.
std::size_t file_bytes(const std::vector<Chunk>& chunks, std::size_t datasets) {
  std::size_t bytes = datasets * (std::size_t(16) << 10) + (std::size_t(1) << 20);
  for (const auto& c : chunks) bytes += c.bytes();
  return bytes;
}
// Rank 0 alone creates the file through the metadata-only driver: its space
// reserved, its attributes, and every dataset with its chunks allocated but
// not yet written. Returns each chunk's address, in the order of `chunks`.
std::vector<std::uint64_t> lay_out_file(const std::string& tmp, const GPT2Config& config, const CheckpointData& data,
                                        const std::vector<Chunk>& chunks, std::size_t datasets) {
  H5Handle fapl(metadata_only_access(), H5Pclose);
  H5Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!file.valid()) throw Error("cannot create " + tmp + " (is the folder writable?)");
  reserve_space(file.get(), tmp, file_bytes(chunks, datasets));
  write_attribute(file.get(), "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, checkpoint_format_version);
  write_config_group(file.get(), config);
  std::vector<H5Handle> groups;  // groups[s + 1] holds the datasets of state s (-1: the model)
  groups.emplace_back(H5Gcreate2(file.get(), "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  H5Handle opt(H5Gcreate2(file.get(), "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  write_string_attribute(opt.get(), "type", name_of(data.optimizer_type));
  for (const auto& state : data.optimizer_state)
    groups.emplace_back(H5Gcreate2(opt.get(), state.first.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  std::vector<std::uint64_t> addresses;
  std::vector<unsigned char> placeholder;
  H5Handle d;
  for (const Chunk& c : chunks) {
    const std::string where = c.state < 0 ? "/model/" : "/optimizer/" + data.optimizer_state[c.state].first + "/";
    if (c.first == 0) d = create_dataset(groups[c.state + 1].get(), *c.tensor, where);
    addresses.push_back(allocate_chunk(d.get(), c, placeholder, where));
  }
  {
    H5Handle st(H5Gcreate2(file.get(), "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    write_attribute(st.get(), "step", H5T_STD_I64LE, H5T_NATIVE_INT64, data.state.step);
    write_attribute(st.get(), "data_position", H5T_STD_U64LE, H5T_NATIVE_UINT64, data.state.data_position);
    write_attribute(st.get(), "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, data.state.seed);
    write_string_attribute(st.get(), "deck", data.state.deck);
  }
  if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) throw Error("cannot write " + tmp + " (disk full?)");
  return addresses;
}

std::vector<std::string> optimizer_state_names(OptimizerType type) {
  if (is_sophia(type)) return {"exp_avg", "hessian"};
  return {"exp_avg", "exp_avg_sq"};
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  H5Handle f = open_checkpoint(path);
  // A weights file (final.h5, import's output) has the model but no checkpoint version.
  if (H5Aexists(f.get(), "format_version") <= 0 && H5Lexists(f.get(), "model", H5P_DEFAULT) > 0 &&
      H5Lexists(f.get(), "optimizer", H5P_DEFAULT) <= 0)
    throw Error(path + " is a weights file, not a checkpoint: it holds no optimizer state or training position "
                "(start a run from it with train --init-from)");
  const int version = read_attribute<int>(f.get(), "format_version", H5T_NATIVE_INT, path);
  if (version != checkpoint_format_version)
    throw Error(path + ": checkpoint format version " + std::to_string(version) + ", this program reads " +
                std::to_string(checkpoint_format_version));
  CheckpointInfo info;
  info.config = read_config(path);
  H5Handle opt = open_group(f.get(), "optimizer", path);
  info.optimizer_type = read_optimizer_type(opt.get(), path + ": /optimizer");
  H5Handle st = open_group(f.get(), "state", path);
  info.state.step = read_attribute<std::int64_t>(st.get(), "step", H5T_NATIVE_INT64, path + ": /state");
  info.state.data_position = read_attribute<std::uint64_t>(st.get(), "data_position", H5T_NATIVE_UINT64, path + ": /state");
  info.state.seed = read_attribute<std::uint64_t>(st.get(), "seed", H5T_NATIVE_UINT64, path + ": /state");
  info.state.deck = read_string_attribute(st.get(), "deck", path + ": /state");
  return info;
}

void read_checkpoint(const std::string& path, const ParameterLayout& layout, float* params,
                     const std::vector<std::pair<std::string, float*>>& optimizer_state, std::size_t partition_begin,
                     std::size_t partition_end) {
  H5Handle f = open_checkpoint(path);
  H5Handle model = open_group(f.get(), "model", path);
  for (const auto& t : layout.tensors()) {
    std::fill(params + t.offset, params + t.offset + t.size(), 0.0f);  // wte's padding rows
    read_part(model.get(), "model", t, params + t.offset, 0, t.stored_size(), path);
  }
  H5Handle opt = open_group(f.get(), "optimizer", path);
  for (const auto& [name, buffer] : optimizer_state) {
    H5Handle g = open_group(opt.get(), name, path + ": /optimizer");
    std::fill(buffer, buffer + (partition_end - partition_begin), 0.0f);
    for (const auto& t : layout.tensors()) {
      const std::size_t a = std::max(t.offset, partition_begin) - t.offset;
      std::size_t b = std::min(t.offset + t.stored_size(), partition_end);
      b = b > t.offset ? b - t.offset : 0;
      float* to = buffer + (t.offset + a - partition_begin);
      read_part(g.get(), "optimizer/" + name, t, b > a ? to : nullptr, a, b, path);
    }
  }
}


}  // namespace sk
