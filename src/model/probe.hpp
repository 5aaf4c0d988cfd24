// Random directions over the flat parameter buffer: the probes u of
// Hutchinson's estimator u * (H u), and hvp's seeded directions.
#pragma once
#include <cstdint>
#include <random>

#include "choices.hpp"
#include "parameters.hpp"
#include "views.hpp"

namespace sk {

// One N(0, 1) draw by Box-Muller from two 53-bit uniforms: the standard
// library's normal_distribution differs between implementations.
double standard_normal(std::mt19937_64& rng);

// Fills out (layout.size() elements, on the device) with a probe drawn from
// `seed`: each stored element N(0, 1) or +-1, wte's padding rows 0. Entry i
// is a pure function of (seed, i) (kernels/random.hpp random_probe), so a seed
// gives the same probe on every backend, thread count and number of ranks.
template <class T>
void draw_probe(const ParameterLayout& layout, Probe kind, std::uint64_t seed, View1<T> out);

}  // namespace sk
