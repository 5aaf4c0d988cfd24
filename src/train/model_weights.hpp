// Weights from a file into a model on the device.
#pragma once
#include <string>

#include "gpt2.hpp"

namespace sk {

// Reads the tensors of a weights file or a checkpoint (both hold /config and
// /model, io/weights.hpp) into model.params; throws sk::Error naming the file
// and the problem when they do not fit the model's shape.
void load_weights(GPT2<float>& model, const std::string& path);

}  // namespace sk
