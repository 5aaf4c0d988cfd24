#include "probe.hpp"

#include <algorithm>
#include <cmath>

namespace sk {

double standard_normal(std::mt19937_64& rng) {
  const double u1 = (rng() >> 11) * 0x1.0p-53, u2 = (rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(2.0 * M_PI * u2);
}

template <class T>
void draw_probe(const ParameterLayout& layout, Probe kind, std::uint64_t seed, T* host) {
  std::mt19937_64 rng(seed);
  std::fill(host, host + layout.size(), T(0));
  for (const auto& t : layout.tensors()) {
    const std::size_t n = t.stored_size();  // row-major: the stored rows come first
    for (std::size_t i = 0; i < n; ++i)
      host[t.offset + i] = kind == Probe::gaussian ? T(standard_normal(rng)) : (rng() >> 63 ? T(1) : T(-1));
  }
}

template void draw_probe<float>(const ParameterLayout&, Probe, std::uint64_t, float*);
template void draw_probe<double>(const ParameterLayout&, Probe, std::uint64_t, double*);

}  // namespace sk
