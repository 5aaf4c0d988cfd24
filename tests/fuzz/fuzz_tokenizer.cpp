// The GPT-2 tokenizer (io/tokenizer.hpp): any bytes encode to ids in the
// vocabulary that decode to the same bytes (byte-level BPE loses nothing),
// and any ids either decode or are refused with sk::Error. Reads the
// vocabulary from SOPHIA_KOKKOS_TOKENIZER or data/gpt2 (scripts/fetch_data.sh).
#include "tokenizer.hpp"
#include "error.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
std::unique_ptr<sk::Gpt2Tokenizer> tokenizer;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer = std::make_unique<sk::Gpt2Tokenizer>(sk::tokenizer_dir());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<int> ids = tokenizer->encode(text);
  for (const int id : ids)
    if (id < 0 || id >= tokenizer->vocab_size()) throw std::logic_error("encode gave id " + std::to_string(id));
  if (tokenizer->decode(ids) != text) throw std::logic_error("decode(encode(text)) differs from the text");
  // The same bytes read as little-endian 16-bit ids, some beyond the vocabulary.
  std::vector<int> raw(size / 2);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = data[2 * i] | data[2 * i + 1] << 8;
  try {
    tokenizer->decode(raw);
  } catch (const sk::Error&) {
  }
  return 0;
}
