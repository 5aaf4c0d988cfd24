// The fixed-point sums behind parallel.reduction = "exact": floats in range
// convert without loss, sums do not depend on the order of the addends, the
// rounded sum is that of the exact sum, carries cross between the two words,
// and out-of-range addends are counted instead of added.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "fixed_point.hpp"

namespace {

using sk::FixedPoint;
using sk::MemSpace;

// The sum of addends[order[0]], addends[order[1]], ... through the kernels,
// rounded to float; out_of_range counts what the kernels refused.
std::vector<float> fixed_point_sum(const std::vector<std::vector<float>>& addends, const std::vector<int>& order,
                                   long& out_of_range) {
  const std::size_t n = addends[0].size();
  sk::View1<FixedPoint> sum("sum", n);
  sk::View1<float> x("x", n), out("out", n);
  Kokkos::View<long, MemSpace> bad("bad");
  auto host = Kokkos::create_mirror_view(x);
  for (int k : order) {
    std::copy(addends[k].begin(), addends[k].end(), host.data());
    Kokkos::deep_copy(x, host);
    sk::fixed_point_add(sum, x, bad);
  }
  sk::fixed_point_round(out, sum);
  Kokkos::deep_copy(host, out);
  Kokkos::deep_copy(out_of_range, bad);
  return std::vector<float>(host.data(), host.data() + n);
}

}  // namespace

TEST_CASE("fixed point holds floats from 2^-67 to 2^24 exactly, of either sign", "[fixed_point]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> exponent(-67, 24), mantissa(1, 2);
  for (int i = 0; i < 20000; ++i) {
    float x = float(mantissa(rng) * std::exp2(std::floor(exponent(rng))));
    if (std::fabs(x) >= 0x1p24f) x = std::nextafter(0x1p24f, 0.0f);
    if (i % 2) x = -x;
    CHECK(sk::to_float(sk::to_fixed_point(x)) == x);
  }
  // Below 2^-67 the conversion keeps multiples of 2^-90, rounded toward zero.
  const float tiny = 3.3e-25f;
  const float kept = sk::to_float(sk::to_fixed_point(tiny));
  CHECK(kept <= tiny);
  CHECK(tiny - kept < 0x1p-90);
  CHECK(sk::to_float(sk::to_fixed_point(-tiny)) == -kept);
  CHECK(sk::to_float(sk::to_fixed_point(0.0f)) == 0.0f);
}

TEST_CASE("fixed point carries between its words both ways", "[fixed_point]") {
  // 0.75 lies wholly in the low word (3 * 2^62); four of them carry into hi.
  FixedPoint s{0, 0}, m{0, 0};
  for (int i = 0; i < 4; ++i) {
    s = s + sk::to_fixed_point(0.75f);
    m = m + sk::to_fixed_point(-0.75f);
  }
  CHECK(s.hi == std::int64_t(3) << 26);
  CHECK(s.lo == 0);
  CHECK(sk::to_float(s) == 3.0f);
  CHECK(sk::to_float(m) == -3.0f);
  CHECK(sk::to_float(s + m) == 0.0f);
  // A borrow through the whole low word: 1 - 2^-60 and back.
  const FixedPoint a = sk::to_fixed_point(1.0f) + sk::to_fixed_point(-0x1p-60f);
  CHECK(sk::to_float(a) == 1.0f);  // the nearest float
  CHECK(sk::to_float(a + sk::to_fixed_point(-1.0f)) == -0x1p-60f);
}

TEST_CASE("fixed-point sums do not depend on the order of the addends and round their exact sum",
          "[fixed_point]") {
  const int n = 1031, K = 37;
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> decade(-20, 6);
  std::vector<std::vector<float>> addends(K, std::vector<float>(n));
  for (auto& a : addends)
    for (float& v : a) v = float(normal(rng) * std::pow(10.0, decade(rng)));
  // Element 0: a large pair that cancels around a small value, which float
  // addition in this order loses.
  addends[0][0] = 1e6f;
  addends[1][0] = 3e-20f;
  addends[2][0] = -1e6f;
  for (int k = 3; k < K; ++k) addends[k][0] = 0;

  std::vector<int> order(K);
  std::iota(order.begin(), order.end(), 0);
  long bad = -1;
  const std::vector<float> forward = fixed_point_sum(addends, order, bad);
  CHECK(bad == 0);
  std::shuffle(order.begin(), order.end(), rng);
  const std::vector<float> shuffled = fixed_point_sum(addends, order, bad);
  std::reverse(order.begin(), order.end());
  const std::vector<float> reversed = fixed_point_sum(addends, order, bad);
  CHECK(std::memcmp(forward.data(), shuffled.data(), n * sizeof(float)) == 0);
  CHECK(std::memcmp(forward.data(), reversed.data(), n * sizeof(float)) == 0);

  CHECK(forward[0] == 3e-20f);
  CHECK((addends[0][0] + addends[1][0]) + addends[2][0] == 0.0f);
  // Elsewhere: the float nearest a long double sum (whose own error is below
  // 2^-64 of the largest addend) within float rounding.
  double worst = 0;
  for (int i = 1; i < n; ++i) {
    long double exact = 0, largest = 0;
    for (int k = 0; k < K; ++k) {
      exact += addends[k][i];
      largest = std::max(largest, std::fabs((long double)addends[k][i]));
    }
    const double err = double(std::fabs(forward[i] - exact));
    const double allowed = 0x1p-24 * double(std::fabs(exact)) + double(largest) * K * 0x1p-63;
    worst = std::max(worst, err / allowed);
  }
  CHECK(worst <= 1.0);
}

TEST_CASE("fixed-point sums count NaN, inf and 2^24 as out of range and add the rest", "[fixed_point]") {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::vector<float>> addends = {{1.0f, std::nanf(""), 0x1p24f, -inf, 0x1p24f - 1, 2.5f},
                                                   {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, inf}};
  long bad = -1;
  const std::vector<float> sum = fixed_point_sum(addends, {0, 1}, bad);
  CHECK(bad == 4);
  CHECK(sum[0] == 2.0f);
  CHECK(sum[1] == 1.0f);  // the refused addend adds nothing
  CHECK(sum[2] == 1.0f);
  CHECK(sum[4] == 0x1p24f);
  CHECK(sum[5] == 2.5f);
}
