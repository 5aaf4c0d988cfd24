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

// out[i] = N(0, 1) if gaussian, else a random sign; 0 for i in
// [zero_begin, zero_end). Entries 2j and 2j+1 come from one key (seed, j):
// Box-Muller's two normals r cos(theta), r sin(theta), or two bits. Each is a
// pure function of (seed, i): Hutchinson probes that every rank, thread count
// and backend draws alike. out [n].
template <class T>
void random_probe(Tensor1<T> out, bool gaussian, std::uint64_t seed, std::size_t zero_begin, std::size_t zero_end,
                  const ExecSpace& space = ExecSpace()) {
  const int n = int(out.extent(0)), lo = int(zero_begin), hi = int(zero_end);
  Kokkos::parallel_for("random_probe", RangePolicy(space, 0, (n + 1) / 2), KOKKOS_LAMBDA(const int j) {
    const std::uint64_t k = hash_key(seed, std::uint64_t(j));
    T pair[2];
    if (gaussian) {
      const double r = kmath::sqrt(-2.0 * kmath::log(1.0 - uniform01(k))), theta = 6.283185307179586 * uniform01(mix64(k));
      pair[0] = T(r * kmath::cos(theta));
      pair[1] = T(r * kmath::sin(theta));
    } else {
      pair[0] = (k >> 63) ? T(1) : T(-1);
      pair[1] = ((k >> 62) & 1) ? T(1) : T(-1);
    }
    for (int h = 0; h < 2; ++h) {
      const int i = 2 * j + h;
      if (i < n) out(i) = i >= lo && i < hi ? T(0) : pair[h];
    }
  });
}

}  // namespace sk
