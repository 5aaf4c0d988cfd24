#include "safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "files.hpp"
#include "strict_json.hpp"

namespace sk {
namespace {

constexpr std::uint64_t max_header_bytes = 100'000'000;  // as Hugging Face's own reader

std::size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  std::uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);  // inf or nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else {  // zero or subnormal: mantissa * 2^-24
    const float f = float(mantissa) * (1.0f / 16777216.0f);
    return sign ? -f : f;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint32_t little_endian(const unsigned char* p, std::size_t bytes) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) v |= std::uint32_t(p[i]) << (8 * i);
  return v;
}

// One header entry, checked against the data's size.
SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& v, std::size_t data_bytes,
                             const std::string& where) {
  if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") || v.size() != 3)
    throw Error(where + " is not an object of dtype, shape and data_offsets");
  SafetensorsEntry e;
  e.name = name;
  if (!v["dtype"].is_string()) throw Error(where + ": dtype is not a string");
  e.dtype = v["dtype"].get<std::string>();
  if (dtype_bytes(e.dtype) == 0) throw Error(where + ": dtype " + e.dtype + " is not supported (F32, F16 or BF16)");
  if (!v["shape"].is_array()) throw Error(where + ": shape is not a list");
  std::size_t elements = 1;
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned()) throw Error(where + ": shape holds something other than sizes");
    const std::uint64_t n = d.get<std::uint64_t>();
    if (n > data_bytes || (n != 0 && elements > data_bytes / n))
      throw Error(where + ": shape is larger than the file's data");
    e.shape.push_back(std::size_t(n));
    elements *= std::size_t(n);
  }
  const auto& o = v["data_offsets"];
  if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned())
    throw Error(where + ": data_offsets is not a pair of offsets");
  const std::uint64_t begin = o[0].get<std::uint64_t>(), end = o[1].get<std::uint64_t>();
  if (begin > end || end > data_bytes)
    throw Error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                "] lie outside the file's " + std::to_string(data_bytes) + " bytes of data");
  e.begin = std::size_t(begin);
  e.end = std::size_t(end);
  if (e.end - e.begin != elements * dtype_bytes(e.dtype))
    throw Error(where + ": " + std::to_string(e.end - e.begin) + " bytes do not hold a " + e.dtype + " tensor of " +
                std::to_string(elements) + " elements");
  return e;
}

// The format's metadata: string keys to string values.
void check_metadata(const nlohmann::json& metadata, const std::string& path) {
  bool strings = metadata.is_object();
  for (const auto& v : metadata) strings = strings && v.is_string();
  if (!strings) throw Error(path + ": __metadata__ is not an object of strings");
}

// The tensors, in offset order, must cover the data exactly: from byte 0, each
// starting where the one before ends, the last ending at the end of the file.
void check_coverage(const std::vector<SafetensorsEntry>& entries, std::size_t data_bytes, const std::string& path) {
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  std::size_t covered = 0;
  for (std::size_t i = 0; i < by_offset.size(); ++i) {
    const SafetensorsEntry& e = *by_offset[i];
    if (e.begin < covered) throw Error(path + ": tensors " + by_offset[i - 1]->name + " and " + e.name + " overlap");
    if (e.begin > covered)
      throw Error(path + ": bytes " + std::to_string(covered) + " to " + std::to_string(e.begin) +
                  " of the data, before tensor " + e.name + ", belong to no tensor");
    covered = e.end;
  }
  if (covered != data_bytes)
    throw Error(path + ": " + std::to_string(data_bytes - covered) + " bytes after the last tensor belong to no tensor");
}

}  // namespace

std::size_t SafetensorsEntry::elements() const {
  std::size_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  std::string bytes = read_whole_file(path, "safetensors file");
  if (bytes.size() < 8) throw Error(path + " is not a safetensors file: shorter than its 8-byte header size");
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | static_cast<unsigned char>(bytes[i]);
  if (header_bytes > bytes.size() - 8 || header_bytes > max_header_bytes)
    throw Error(path + ": header size " + std::to_string(header_bytes) + " goes beyond the file's " +
                std::to_string(bytes.size()) + " bytes (truncated, or not a safetensors file)");
  const nlohmann::json header = parse_json_strictly(bytes.substr(8, header_bytes), "the header of " + path);
  if (!header.is_object()) throw Error(path + ": the header is not a JSON object");
  data_ = std::move(bytes);
  data_.erase(0, 8 + header_bytes);
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") check_metadata(value, path);
    else entries_.push_back(parse_entry(name, value, data_.size(), path + ": tensor " + name));
  }
  check_coverage(entries_, data_.size(), path);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<float> SafetensorsFile::read(const SafetensorsEntry& e) const {
  const std::size_t width = dtype_bytes(e.dtype), n = e.elements();
  const auto* p = reinterpret_cast<const unsigned char*>(data_.data()) + e.begin;
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i, p += width) {
    const std::uint32_t v = little_endian(p, width);
    if (e.dtype == "F32") std::memcpy(&out[i], &v, 4);
    else if (e.dtype == "BF16") {
      const std::uint32_t bits = v << 16;
      std::memcpy(&out[i], &bits, 4);
    } else out[i] = half_to_float(std::uint16_t(v));
  }
  return out;
}

void write_safetensors(StagedFiles& out, const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    std::size_t n = 1;
    for (auto d : t.shape) n *= d;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * n}}};
    offset += 4 * n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const std::string tmp = out.stage(path);
  std::ofstream file(tmp, std::ios::binary);
  if (!file) throw Error("cannot create " + tmp + " (is the folder writable?)");
  unsigned char size[8];
  for (int i = 0; i < 8; ++i) size[i] = static_cast<unsigned char>(std::uint64_t(text.size()) >> (8 * i));
  file.write(reinterpret_cast<const char*>(size), 8);
  file.write(text.data(), std::streamsize(text.size()));
  for (const auto& t : tensors) {
    std::size_t n = 1;
    for (auto d : t.shape) n *= d;
    std::vector<unsigned char> bytes(4 * n);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t v;
      std::memcpy(&v, &t.values[i], 4);
      for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<unsigned char>(v >> (8 * b));
    }
    file.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  if (!file.flush()) throw Error("cannot write " + tmp + " (disk full?)");
}

}  // namespace sk
