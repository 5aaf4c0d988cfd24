// Counter-based random numbers: a value is a pure function of its key, so
// results do not depend on threads, backends or how work is split over ranks.
#pragma once
#include <cstdint>

#include "views.hpp"

namespace sk {

// SplitMix64's finaliser: a bijective mix of 64 bits.
KOKKOS_INLINE_FUNCTION std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A key from several counters, e.g. hash_key(seed, step, sequence, position).
KOKKOS_INLINE_FUNCTION std::uint64_t hash_key(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0,
                                              std::uint64_t d = 0) {
  return mix64(mix64(mix64(mix64(a) ^ b) ^ c) ^ d);
}

// Uniform in [0, 1) with 53 random bits.
KOKKOS_INLINE_FUNCTION double uniform01(std::uint64_t key) { return double(key >> 11) * 0x1.0p-53; }

}  // namespace sk
