// Random directions over the flat parameter buffer: the probes u of
// Hutchinson's estimator u * (H u), and hvp's seeded directions.
#pragma once
#include <cstdint>
#include <random>

#include "choices.hpp"
#include "parameters.hpp"

namespace sk {

// One N(0, 1) draw by Box-Muller from two 53-bit uniforms: the standard
// library's normal_distribution differs between implementations.
double standard_normal(std::mt19937_64& rng);

// Fills a host buffer of layout.size() elements with a probe drawn from
// `seed`: each stored element N(0, 1) or +-1, padding rows 0. Drawn on the
// host from a fixed generator in the layout's order, so a seed gives the same
// probe with every compiler, backend and number of ranks.
template <class T>
void draw_probe(const ParameterLayout& layout, Probe kind, std::uint64_t seed, T* host);

}  // namespace sk
