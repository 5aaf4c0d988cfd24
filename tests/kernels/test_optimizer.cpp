// The optimizer kernels against a direct scalar implementation of their
// formulas, on the host in double precision.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "helpers.hpp"
#include "optimizer_update.hpp"

using namespace sk;

namespace {

using Vec = sk_test::DeviceBuffer<double>;

std::vector<double> normal(std::size_t n, double scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<double> positive(std::size_t n, double scale, unsigned seed) {
  auto v = normal(n, scale, seed);
  for (auto& x : v) x = std::fabs(x);
  return v;
}

// A device scalar holding x.
Scalar<double> scalar(double x) {
  Scalar<double> s("scalar");
  Kokkos::deep_copy(s, x);
  return s;
}

double read(const Scalar<double>& s) {
  double x = 0;
  Kokkos::deep_copy(x, s);
  return x;
}

constexpr double kTol = 1e-14;  // both sides evaluate the same formula in double

void check_close(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]) / (1 + std::fabs(want[i])));
  CHECK(worst <= kTol);
}

}  // namespace

TEST_CASE("adamw_update follows bias-corrected AdamW with decoupled weight decay", "[optimizer]") {
  const std::size_t n = 257;
  auto p0 = normal(n, 1.0, 1), g = normal(n, 0.1, 2), m0 = normal(n, 0.05, 3), v0 = positive(n, 0.01, 4);
  const AdamWStep<double> s{3e-3, 0.9, 0.95, 1e-8, 0.1, 7};
  Vec p(p0), grad(g), m(m0), v(v0);
  adamw_update<double>(p.t1(), grad.t1(), m.t1(), v.t1(), s, scalar(0.5));

  std::vector<double> pe(n), me(n), ve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double gi = g[i] * 0.5;
    me[i] = 0.9 * m0[i] + 0.1 * gi;
    ve[i] = 0.95 * v0[i] + 0.05 * gi * gi;
    const double mhat = me[i] / (1 - std::pow(0.9, 7)), vhat = ve[i] / (1 - std::pow(0.95, 7));
    pe[i] = p0[i] * (1 - 3e-3 * 0.1) - 3e-3 * mhat / (std::sqrt(vhat) + 1e-8);
  }
  check_close(p.values(), pe);
  check_close(m.values(), me);
  check_close(v.values(), ve);
}

TEST_CASE("sophia_update clips the preconditioned step and counts clipped coordinates", "[optimizer]") {
  const std::size_t n = 1000;
  auto p0 = normal(n, 1.0, 5), g = normal(n, 0.1, 6), m0 = normal(n, 0.05, 7), h = positive(n, 3e-3, 8);
  const double lr = 6e-4, beta1 = 0.965, rho = 0.04, wd = 0.2, tokens = 480, scale = 0.8;
  h[0] = 0;  // a coordinate whose Hessian estimate is still zero
  Vec p(p0), grad(g), m(m0), hv(h);
  Scalar<long> counted("clipped");
  sophia_update<double>(p.t1(), grad.t1(), m.t1(), hv.t1(), {lr, beta1, rho, wd, tokens}, scalar(scale),
                        counted);
  long clipped = 0;
  Kokkos::deep_copy(clipped, counted);

  std::vector<double> pe(n), me(n);
  long clipped_expected = 0;
  for (std::size_t i = 0; i < n; ++i) {
    me[i] = beta1 * m0[i] + (1 - beta1) * g[i] * scale;
    const double ratio = std::fabs(me[i]) / (rho * tokens * h[i] + 1e-15);
    clipped_expected += ratio >= 1;
    const double sign = me[i] > 0 ? 1 : (me[i] < 0 ? -1 : 0);
    pe[i] = p0[i] * (1 - lr * wd) - lr * sign * std::min(ratio, 1.0);
  }
  check_close(p.values(), pe);
  check_close(m.values(), me);
  CHECK(clipped == clipped_expected);
  // The data are chosen so that both branches occur.
  CHECK(clipped > 50);
  CHECK(clipped < long(n) - 50);
}

TEST_CASE("sophia_update with h = 0 moves every coordinate by exactly lr*sign(m)", "[optimizer]") {
  const std::size_t n = 300;
  auto p0 = normal(n, 1.0, 9), g = normal(n, 0.1, 10), m0 = normal(n, 0.05, 11);
  const double lr = 1e-3;
  Vec p(p0), grad(g), m(m0), h(std::vector<double>(n, 0.0));
  Scalar<long> counted("clipped");
  sophia_update<double>(p.t1(), grad.t1(), m.t1(), h.t1(), {lr, 0.965, 0.04, 0.0, 512}, scalar(1), counted);
  long clipped = 0;
  Kokkos::deep_copy(clipped, counted);
  CHECK(clipped == long(n));
  const auto p1 = p.values(), m1 = m.values();
  for (std::size_t i = 0; i < n; ++i) {
    const double sign = m1[i] > 0 ? 1 : -1;
    REQUIRE(p1[i] == p0[i] - lr * sign);
  }
}

TEST_CASE("sophia_hessian_update keeps an exponential average of ghat squared", "[optimizer]") {
  const std::size_t n = 129;
  auto h0 = positive(n, 1e-4, 12), ghat = normal(n, 0.01, 13);
  Vec h(h0), gv(ghat);
  sophia_hessian_update<double>(h.t1(), gv.t1(), 0.99, scalar(0.5));
  std::vector<double> he(n);
  for (std::size_t i = 0; i < n; ++i) he[i] = 0.99 * h0[i] + 0.01 * (0.5 * ghat[i]) * (0.5 * ghat[i]);
  check_close(h.values(), he);
}

TEST_CASE("sophia_update with negative h (Hutchinson) takes the clipped step lr*sign(m)", "[optimizer]") {
  const std::size_t n = 300;
  auto p0 = normal(n, 1.0, 14), g = normal(n, 0.1, 15), m0 = normal(n, 0.05, 16), h0 = positive(n, 3e-3, 17);
  for (std::size_t i = 0; i < n; i += 2) h0[i] = -h0[i];  // every other coordinate negatively curved
  const double lr = 1e-3, rho = 0.04;
  Vec p(p0), grad(g), m(m0), h(h0);
  Scalar<long> counted("clipped");
  sophia_update<double>(p.t1(), grad.t1(), m.t1(), h.t1(), {lr, 0.965, rho, 0.0, 1}, scalar(1), counted);
  const auto p1 = p.values(), m1 = m.values();
  std::size_t negative_moved = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double sign = m1[i] > 0 ? 1 : -1;
    const double ratio = h0[i] < 0 ? 1.0 : std::min(std::fabs(m1[i]) / (rho * h0[i] + 1e-15), 1.0);
    INFO("coordinate " << i << ", h " << h0[i]);
    REQUIRE(p1[i] == Approx(p0[i] - lr * sign * ratio).epsilon(1e-12));
    negative_moved += h0[i] < 0 && p1[i] == p0[i] - lr * sign;
  }
  CHECK(negative_moved == n / 2);
}

TEST_CASE("sophia_hutchinson_update keeps an exponential average of u * (H u)", "[optimizer]") {
  const std::size_t n = 129;
  auto h0 = normal(n, 1e-4, 18), u = normal(n, 1.0, 19), hu = normal(n, 0.01, 20);
  Vec h(h0), uv(u), huv(hu);
  sophia_hutchinson_update<double>(h.t1(), uv.t1(), huv.t1(), 0.99, scalar(0.25));
  std::vector<double> he(n);
  for (std::size_t i = 0; i < n; ++i) he[i] = 0.99 * h0[i] + 0.01 * u[i] * (0.25 * hu[i]);
  check_close(h.values(), he);
}

TEST_CASE("clip_scale turns a sum of squares into the norm of the mean and a clipped scale", "[optimizer]") {
  Scalar<double> norm("norm"), scale("scale");
  // Gradients summed over 4 micro-batches with |sum| = 20: the mean's norm is 5.
  clip_scale(scalar(400), 4, 1.0, norm, scale);
  CHECK(read(norm) == 5);
  CHECK(read(scale) == Approx(0.2 / 4).epsilon(1e-15));  // clipped to norm 1
  clip_scale(scalar(400), 4, 10.0, norm, scale);
  CHECK(read(scale) == 0.25);  // below the threshold: the mean only
  clip_scale(scalar(400), 4, 0.0, norm, scale);
  CHECK(read(scale) == 0.25);  // 0: clipping off
}

TEST_CASE("add_counts sums the counts of several runs", "[optimizer]") {
  Kokkos::View<long*, MemSpace> counts("counts", 3);
  auto host = Kokkos::create_mirror_view(counts);
  host(0) = 5, host(1) = 0, host(2) = 1234567;
  Kokkos::deep_copy(counts, host);
  Scalar<double> total("total");
  add_counts(counts, total);
  CHECK(read(total) == 1234572);
}
