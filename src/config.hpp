// GPT-2 model shape and the named presets.
#pragma once
#include <string>
#include <vector>

namespace sk {

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

// Presets: gpt2 (124M), gpt2-medium (350M), gpt2-large (774M), gpt2-xl (1558M)
// and tiny (for tests and quick experiments). Throws sk::Error for other names.
GPT2Config preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace sk
