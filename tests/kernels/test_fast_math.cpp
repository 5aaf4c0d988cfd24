// exp_poly (kernels/fast_math.hpp) against the exact exp, computed in double,
// over the float range it covers, and at its edges.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "fast_math.hpp"

TEST_CASE("exp_poly is within 1.2e-7 relative of exp over the float range", "[kernels][fast_math]") {
  // Every 61st float bit pattern of either sign (about 35 million values, all
  // exponents and a spread of mantissas), kept where the result is a normal float.
  double worst = 0;
  float worst_x = 0;
  long checked = 0;
  for (std::uint32_t bits = 0; bits < 0x80000000u; bits += 61)
    for (const std::uint32_t sign : {0u, 0x80000000u}) {
      const std::uint32_t b = bits | sign;
      float x;
      std::memcpy(&x, &b, sizeof x);
      if (!(x >= -87.33654f && x <= 88.72283f)) continue;
      const double want = std::exp(double(x));
      const double rel = std::fabs(double(sk::exp_poly(x)) - want) / want;
      ++checked;
      if (rel > worst) {
        worst = rel;
        worst_x = x;
      }
    }
  INFO(checked << " values; worst relative error " << worst << " at x = " << worst_x);
  CHECK(checked > 30000000);
  CHECK(worst <= 1.2e-7);
}

TEST_CASE("exp_poly is exact at 0 and saturates like exp at the ends", "[kernels][fast_math]") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(sk::exp_poly(0.0f) == 1.0f);
  CHECK(sk::exp_poly(-0.0f) == 1.0f);
  CHECK(sk::exp_poly(-87.4f) == 0.0f);  // would leave the normal floats
  CHECK(sk::exp_poly(-1000.0f) == 0.0f);
  CHECK(sk::exp_poly(-inf) == 0.0f);
  CHECK(sk::exp_poly(88.8f) == inf);
  CHECK(sk::exp_poly(inf) == inf);
  CHECK(std::isnan(sk::exp_poly(std::numeric_limits<float>::quiet_NaN())));
  const float hi = 88.72283f;
  const double want = std::exp(double(hi));
  CHECK(std::isfinite(sk::exp_poly(hi)));
  CHECK(std::fabs(double(sk::exp_poly(hi)) - want) <= 1.2e-7 * want);
  // double keeps the library's exp.
  CHECK(sk::fast_exp(1.0) == std::exp(1.0));
}
