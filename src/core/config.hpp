// GPT-2 model shape and the named presets.
#pragma once
#include <string>
#include <vector>

namespace sk {

// The largest model shape accepted from a deck or a file.
constexpr int max_vocab = 65536;  // token files hold uint16 ids
constexpr int max_block_size = 1 << 20;
// The most tokens one sample may generate (`sample --tokens`, train.sample_tokens).
constexpr int max_new_tokens = 1 << 20;
constexpr int max_layers = 1000;
constexpr int max_heads = 1000;
constexpr int max_embd = 1 << 16;

struct GPT2Config {
  int vocab_size = 0;
  int block_size = 0;  // maximum sequence length T
  int n_layer = 0;
  int n_head = 0;
  int n_embd = 0;

  // The vocabulary as stored in memory: rounded up to a multiple of 128 so the
  // LM head's matmul has friendly sizes. The extra rows stay zero and never
  // reach the loss or a file.
  int padded_vocab() const { return (vocab_size + 127) / 128 * 128; }
  int head_size() const { return n_embd / n_head; }
  // Throws sk::Error naming the first field that is out of range.
  void validate() const;
};

// The model shape's fields, in one table that the deck's [model] keys, the
// --vocab-size ... --n-embd options, the /config attributes of weights and
// checkpoints, the shape checks and the comparison of a file with the deck
// all walk. `name` is the deck key (model.NAME) and the attribute name.
struct ModelField {
  using Member = int GPT2Config::*;
  const char* name;
  Member member;
  int max;  // the largest value accepted
};
inline constexpr ModelField model_fields[] = {
    {"vocab_size", &GPT2Config::vocab_size, max_vocab}, {"block_size", &GPT2Config::block_size, max_block_size},
    {"n_layer", &GPT2Config::n_layer, max_layers},      {"n_head", &GPT2Config::n_head, max_heads},
    {"n_embd", &GPT2Config::n_embd, max_embd},
};

// Presets: gpt2 (124M), gpt2-medium (350M), gpt2-large (774M), gpt2-xl (1558M)
// and tiny (for tests and quick experiments). Throws sk::Error for other names.
GPT2Config preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace sk
