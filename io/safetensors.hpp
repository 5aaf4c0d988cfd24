// Safetensors files, the tensor format of Hugging Face checkpoints: a
// little-endian u64 header size N, N bytes of JSON header, then the data.
// The header maps each tensor's name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets into the data, after the header); "__metadata__"
// holds strings. The reader is strict, as the format's rules: it refuses a
// header that is not such an object (a name given twice included), metadata
// other than strings, a size or offset beyond the file, tensors that overlap,
// leave a gap or leave bytes after the last, or whose byte count does not
// match dtype and shape, and dtypes other than F32, F16 and BF16, each with a
// message naming the file and the tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "files.hpp"

namespace sk {

struct SafetensorsEntry {
  std::string name, dtype;         // dtype: "F32", "F16" or "BF16"
  std::vector<std::size_t> shape;
  std::size_t begin = 0, end = 0;  // byte range in the data
  std::size_t elements() const;
};

class SafetensorsFile {
 public:
  // Reads the whole file and checks its header; throws sk::Error.
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // by name
  const SafetensorsEntry* find(const std::string& name) const;              // nullptr if absent
  // The tensor's values converted to float32, row-major.
  std::vector<float> read(const SafetensorsEntry& entry) const;

 private:
  std::string path_;
  std::string data_;  // the bytes after the header
  std::vector<SafetensorsEntry> entries_;
};

struct SafetensorsTensor {
  std::string name;
  std::vector<std::size_t> shape;
  const float* values;  // row-major, written as F32
};

// Writes tensors as F32 (in the order given) with string metadata to the
// temporary of `path` staged in `out`, which out.commit() renames into place;
// throws sk::Error.
void write_safetensors(StagedFiles& out, const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace sk
