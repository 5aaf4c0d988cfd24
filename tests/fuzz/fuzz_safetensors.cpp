// Safetensors files (io/safetensors.hpp): any bytes are either refused with
// sk::Error or give tensors with distinct names whose byte ranges, in offset
// order, cover the data after the header exactly, each read into as many
// floats as its shape holds. Anything else (a crash, a sanitizer report,
// another exception) is a finding.
#include <algorithm>
#include <set>
#include <stdexcept>
#include <vector>

#include "error.hpp"
#include "fuzz_input.hpp"
#include "safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sk::fuzz::scratch_file(data, size, ".safetensors");
  try {
    const sk::SafetensorsFile file(path);
    std::uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | data[i];
    std::vector<const sk::SafetensorsEntry*> by_offset;
    std::set<std::string> names;
    for (const auto& e : file.entries()) {
      if (!names.insert(e.name).second) throw std::logic_error("tensor " + e.name + " read twice");
      by_offset.push_back(&e);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
    std::size_t covered = 0;
    for (const auto* e : by_offset) {
      if (e->begin != covered) throw std::logic_error("tensor " + e->name + " does not start where the last ended");
      covered = e->end;
      if (file.read(*e).size() != e->elements()) throw std::logic_error("tensor " + e->name + " read short");
    }
    if (covered != size - 8 - header) throw std::logic_error("the tensors do not cover the data");
  } catch (const sk::Error&) {
  }
  return 0;
}
