#include "model_weights.hpp"

#include "weights.hpp"

namespace sk {

void load_weights(GPT2<float>& model, const std::string& path) {
  auto host = Kokkos::create_mirror_view(model.params);
  read_weights(path, model.layout(), host.data());
  Kokkos::deep_copy(model.params, host);
}

}  // namespace sk
