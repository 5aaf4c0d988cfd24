// Token shards (io/tokens.hpp, io/shards.hpp): any bytes as a shard file are
// either refused with sk::Error or give windows whose every token is below
// the vocabulary size. Anything else (a crash, a sanitizer report, another
// exception) is a finding.
#include "shards.hpp"
#include "error.hpp"
#include "fuzz_input.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sk::fuzz::scratch_file(data, size, ".bin");
  constexpr int T = 4, vocab = 97;
  try {
    const sk::TokenShards shards(path, T, vocab);
    std::vector<std::uint16_t> window(T + 1);
    for (std::uint64_t w = 0; w < shards.windows() && w < 8; ++w) {
      shards.read_window(w, window.data());
      for (const auto id : window)
        if (id >= vocab) throw std::logic_error("a window holds token id " + std::to_string(id));
    }
  } catch (const sk::Error&) {
  }
  return 0;
}
