#include "model_weights.hpp"

#include <filesystem>

#include "checkpoint_policy.hpp"
#include "error.hpp"
#include "hf_gpt2.hpp"
#include "weights.hpp"

namespace sk {

bool is_hf_checkpoint(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec) || std::filesystem::path(path).extension() == ".safetensors";
}

GPT2Config weights_config(const std::string& path) {
  return is_hf_checkpoint(path) ? read_hf_gpt2_config(path) : read_config(path);
}

void load_weights(GPT2<float>& model, const std::string& path) {
  auto host = Kokkos::create_mirror_view(model.params);
  if (!is_hf_checkpoint(path)) {
    read_weights(path, model.layout(), host.data());
  } else {  // converted on the host (transposes, dtypes): a second copy while loading
    const HFWeights hf = read_hf_gpt2(path);
    const std::string differences = shape_differences(hf.config, model.config());
    if (!differences.empty()) throw Error(path + ": model shape differs: " + differences);
    std::copy(hf.params.begin(), hf.params.end(), host.data());
  }
  Kokkos::deep_copy(model.params, host);
}

}  // namespace sk
