// The layout of all GPT-2 parameters in one flat buffer. Gradients (and later
// optimizer state) use the same layout, so reductions, optimizer kernels and
// checkpoints each work on one array; layers see named views into it (src/model).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "config.hpp"

namespace sk {

// [begin, end) of the flat buffer: the part of it whose optimizer state a rank
// holds (all of it, or its ZeRO-1 partition).
struct Partition {
  std::size_t begin, end;
  std::size_t size() const { return end - begin; }
};

struct TensorSpec {
  std::string name;                 // the PyTorch/nanoGPT state-dict key
  std::vector<std::size_t> shape;   // shape in memory (wte has padded_vocab rows)
  std::vector<std::size_t> stored;  // shape in files (wte has vocab_size rows)
  std::size_t offset = 0;           // first element in the flat buffer
  std::size_t size() const;         // elements in memory
  std::size_t stored_size() const;  // elements in files
};

// "[768, 2304]", for messages.
std::string shape_string(const std::vector<std::size_t>& shape);

class ParameterLayout {
 public:
  explicit ParameterLayout(const GPT2Config& config);
  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  std::size_t size() const { return size_; }  // elements in the flat buffer
  std::size_t stored_count() const;           // parameters as a user counts them (no padding)
  const TensorSpec& find(const std::string& name) const;
  bool contains(const std::string& name) const;

 private:
  std::vector<TensorSpec> tensors_;
  std::size_t size_ = 0;
};

}  // namespace sk
