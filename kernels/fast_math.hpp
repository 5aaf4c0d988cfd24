// exp for the elementwise kernels (softmax, GELU's tanh), written as plain
// arithmetic so that compilers vectorise the loops that call it: the C
// library's expf is a function call that stops vectorisation, and on one core
// it is what limits the softmax over the vocabulary.
//
// float: exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 with ln 2 in
// two parts (the product n * ln2_hi is exact), so |r| <= ln 2 / 2, and exp(r)
// by its Taylor polynomial of degree 7 (truncation below 6e-9 relative).
// Relative error against the exact exp: at most 2 float ulps (2.4e-7) over
// the whole range (tests/kernels/test_fast_math.cpp checks it against double exp).
// Below -87.33 (where 2^n would leave the normal floats) it returns 0, above
// 88.72 +inf; NaN stays NaN. double uses the library's exp.
#pragma once
#include <cstdint>
#include <cstring>

#include "compat.hpp"

namespace sk {

KOKKOS_INLINE_FUNCTION float exp_poly(float x) {
  constexpr float lo = -87.33654f, hi = 88.72283f;  // ln of the smallest normal float; ln FLT_MAX
  constexpr float log2e = 1.44269504f, ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-6f;
  constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const float t = xc * log2e + round_magic;  // n in the low mantissa bits of t
  const float n = t - round_magic;
  const float r = (xc - n * ln2_hi) - n * ln2_lo;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  std::int32_t tbits, magic_bits;
  std::memcpy(&tbits, &t, sizeof t);
  std::memcpy(&magic_bits, &round_magic, sizeof round_magic);
  // 2^n built from its exponent bits: n + 127 lies in [1, 254] after the clamp
  // (2^128 for hi is reached as 2 * 2^127 through p's range).
  const std::int32_t n_int = tbits - magic_bits;
  const std::int32_t half = n_int >> 1;
  // Shifted as unsigned: a NaN x gives any n_int, and the result is NaN anyway.
  const std::uint32_t bits_a = std::uint32_t(half + 127) << 23, bits_b = std::uint32_t(n_int - half + 127) << 23;
  float scale_a, scale_b;
  std::memcpy(&scale_a, &bits_a, sizeof scale_a);
  std::memcpy(&scale_b, &bits_b, sizeof scale_b);
  const std::int32_t inf_bits = 0x7f800000;
  float inf;
  std::memcpy(&inf, &inf_bits, sizeof inf);
  const float y = p * scale_a * scale_b;  // products with powers of 2: exact
  return x < lo ? 0.0f : (x > hi ? inf : y);
}

template <class T>
KOKKOS_INLINE_FUNCTION T fast_exp(T x) {
  return kmath::exp(x);
}
template <>
KOKKOS_INLINE_FUNCTION float fast_exp<float>(float x) {
  return exp_poly(x);
}

}  // namespace sk
