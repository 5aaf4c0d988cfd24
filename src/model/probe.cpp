#include "probe.hpp"

#include <cmath>

#include "random.hpp"

namespace sk {

double standard_normal(std::mt19937_64& rng) {
  const double u1 = (rng() >> 11) * 0x1.0p-53, u2 = (rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(2.0 * M_PI * u2);
}

template <class T>
void draw_probe(const ParameterLayout& layout, Probe kind, std::uint64_t seed, View1<T> out) {
  // Only wte has padding rows (its stored rows are a prefix of the tensor).
  const TensorSpec& wte = layout.find("transformer.wte.weight");
  random_probe<T>(Tensor1<T>(out.data(), out.extent(0)), kind == Probe::gaussian, seed, wte.offset + wte.stored_size(),
                  wte.offset + wte.size());
}

template void draw_probe<float>(const ParameterLayout&, Probe, std::uint64_t, View1<float>);
template void draw_probe<double>(const ParameterLayout&, Probe, std::uint64_t, View1<double>);

}  // namespace sk
