// Weights from a file into a model on the device.
#pragma once
#include <string>

#include "gpt2.hpp"

namespace sk {

// Whether `path` names a Hugging Face GPT-2 checkpoint (a folder, or a
// .safetensors file with config.json beside it) rather than one of our HDF5
// weights files or checkpoints.
bool is_hf_checkpoint(const std::string& path);

// The model shape of either kind of weights; throws sk::Error naming the file.
GPT2Config weights_config(const std::string& path);

// Reads the tensors of either kind into model.params; throws sk::Error naming
// the file and the problem when they do not fit the model's shape.
void load_weights(GPT2<float>& model, const std::string& path);

}  // namespace sk
