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
// [zero_begin, zero_end). Each is a pure function of (seed, i): Hutchinson
// probes that every rank, thread count and backend draws alike. Normals come
// in pairs, entries 2j and 2j+1 from one key (seed, j) by Box-Muller
// (r cos(theta), r sin(theta)); signs 64 at a time, entry 64j+b from bit b of
// key (seed, j), so a probe costs one hash per 64 entries. out [n].
template <class T>
void random_probe(Tensor1<T> out, bool gaussian, std::uint64_t seed, std::size_t zero_begin, std::size_t zero_end,
                  const ExecSpace& space = ExecSpace()) {
  const int n = int(out.extent(0)), lo = int(zero_begin), hi = int(zero_end);
  if (!gaussian) {
    Kokkos::parallel_for("random_probe_signs", RangePolicy(space, 0, (n + 63) / 64), KOKKOS_LAMBDA(const int j) {
      const std::uint64_t bits = hash_key(seed, std::uint64_t(j));
      const int i0 = 64 * j, end = n - i0 < 64 ? n : i0 + 64;
      for (int i = i0; i < end; ++i) out(i) = i >= lo && i < hi ? T(0) : ((bits >> (i - i0)) & 1) ? T(1) : T(-1);
    });
    return;
  }
  Kokkos::parallel_for("random_probe_normals", RangePolicy(space, 0, (n + 1) / 2), KOKKOS_LAMBDA(const int j) {
    const std::uint64_t k = hash_key(seed, std::uint64_t(j));
    const double r = kmath::sqrt(-2.0 * kmath::log(1.0 - uniform01(k))), theta = 6.283185307179586 * uniform01(mix64(k));
    const T pair[2] = {T(r * kmath::cos(theta)), T(r * kmath::sin(theta))};
    for (int h = 0; h < 2; ++h) {
      const int i = 2 * j + h;
      if (i < n) out(i) = i >= lo && i < hi ? T(0) : pair[h];
    }
  });
}

}  // namespace sk
