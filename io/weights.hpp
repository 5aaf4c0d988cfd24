// GPT-2 weights and gradients in HDF5 (format: docs/weights.md).
//   /config  integer attributes vocab_size, block_size, n_layer, n_head, n_embd
//   /model/<state-dict key>  float32, PyTorch shapes, wte unpadded
// A gradient file has /config, /loss (float64 scalar) and /grad/<same keys>.
#pragma once
#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "parameters.hpp"

namespace sk {

// The model shape stored in a weights file; throws sk::Error if absent or invalid.
GPT2Config read_config(const std::string& path);

// Fills a host buffer of layout.size() elements from /model. Every tensor must
// be present, floating point and of the stored shape; padding rows are zeroed.
template <class T>
void read_weights(const std::string& path, const ParameterLayout& layout, T* host);

// The same for the tensors of any group (a gradient file's "grad", ...);
// with only_these, a tensor in the group that the layout lacks is refused too.
template <class T>
void read_tensors(const std::string& path, const std::string& group, const ParameterLayout& layout, T* host,
                  bool only_these);

// Writes the /config group into an open file: weights files and checkpoints
// both hold one (one process writes each file's metadata).
void write_config_group(hid_t file, const GPT2Config& config);

// Writes /config and /model from a host buffer of layout.size() elements.
template <class T>
void write_weights(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                   const T* host);

// Writes /config, /loss and a group of tensors per (name, host buffer) pair.
template <class T>
void write_tensor_groups(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                         double loss, const std::vector<std::pair<std::string, const T*>>& groups);

// Writes /config, /loss and /grad from a host gradient buffer.
template <class T>
void write_gradients(const std::string& path, const GPT2Config& config, const ParameterLayout& layout,
                     const T* host, double loss);

}  // namespace sk
