// Helpers of the kernel tests (test_kernels.cpp, test_attention.cpp): double
// buffers with host mirrors, forwards against host computations, backwards
// against central finite differences of L = sum(out * R) for a random
// upstream gradient R (the backward is run with dout = R).
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <functional>
#include <random>
#include <vector>

#include "helpers.hpp"
#include "views.hpp"

namespace sk_test {

using sk::Tensor1;
using sk::Tensor2;
using sk::View1;

// Central-difference step. For these O(1) inputs the truncation error
// (h^2/6 |L'''|) and the rounding error (~1e-16 |L| / h) are both ~1e-10.
constexpr double kStep = 1e-5;
// Backward vs finite differences: max |analytic - fd| over all entries of a
// gradient <= kFdTol * max(1, max |analytic|). About 100x the expected
// finite-difference error, and orders of magnitude below any wrong term.
constexpr double kFdTol = 1e-7;
// Forward vs a host computation of the same formula (rounding only):
// max |kernel - host| <= kExactTol * max(1, max |host|).
constexpr double kExactTol = 1e-12;
// Value written into outputs before a kernel that should overwrite them, so
// that a kernel adding to (or skipping) an entry is caught.
constexpr double kGarbage = 123.25;

// A [rows, cols] tensor of doubles on the device, with its host mirror.
using Buf = DeviceBuffer<double>;

inline void fill_normal(const Buf& b, std::mt19937& rng, double mean = 0, double sd = 1) {
  std::normal_distribution<double> dist(mean, sd);
  for (int i = 0; i < b.size(); ++i) b[i] = dist(rng);
  b.upload();
}

inline void fill(const Buf& b, double value) {
  for (int i = 0; i < b.size(); ++i) b[i] = value;
  b.upload();
}

// max that keeps a NaN, so that a NaN anywhere fails the check.
inline void update_max(double& m, double v) {
  if (!(v <= m)) m = v;
}

// Entrywise after - before: what an accumulating (+=) kernel added.
inline std::vector<double> added(const Buf& after, const std::vector<double>& before) {
  std::vector<double> d = after.values();
  for (std::size_t i = 0; i < d.size(); ++i) d[i] -= before[i];
  return d;
}

// L = sum(out * R) with out's device values.
inline double sum_product(const Buf& out, const Buf& r) {
  out.download();
  double s = 0;
  for (int i = 0; i < out.size(); ++i) s += out[i] * r[i];
  return s;
}

// Checks got against want entrywise with a bound relative to max(1, max |want|).
inline void check_close(const char* what, const std::vector<double>& got, const std::vector<double>& want,
                 double tol) {
  REQUIRE(got.size() == want.size());
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < got.size(); ++i) {
    update_max(err, std::fabs(got[i] - want[i]));
    update_max(scale, std::fabs(want[i]));
  }
  INFO(what << ": max abs error " << err << ", scale " << scale);
  CHECK(err <= tol * scale);
}

// |got - want| <= tol * (sum of |terms|) entrywise, with the bound given per entry.
inline void check_sums(const char* what, const std::vector<float>& got, const std::vector<double>& want,
                const std::vector<double>& magnitude, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]), bound = tol * (magnitude[i] + 1e-30);
    if (!(err <= bound)) ++bad;
    if (err / (magnitude[i] + 1e-30) > worst) worst = err / (magnitude[i] + 1e-30);
  }
  INFO(what << ": " << bad << " entries out of tolerance; worst error / sum|terms| = " << worst);
  CHECK(bad == 0);
}

// Checks grad = dL/dx against central differences in the listed entries of x.
// loss() must recompute L from the device values of x (rerunning the forward).
inline void check_fd_entries(const char* what, const Buf& x, const std::vector<double>& grad,
                             const std::vector<int>& entries, const std::function<double()>& loss) {
  REQUIRE(int(grad.size()) == x.size());
  x.download();
  double err = 0, scale = 1;
  for (const int i : entries) {
    const double x0 = x[i];
    x[i] = x0 + kStep;
    x.upload();
    const double lp = loss();
    x[i] = x0 - kStep;
    x.upload();
    const double lm = loss();
    x[i] = x0;
    update_max(err, std::fabs(grad[i] - (lp - lm) / (2 * kStep)));
    update_max(scale, std::fabs(grad[i]));
  }
  x.upload();
  INFO(what << ": " << entries.size() << " entries, max |analytic - fd| " << err
            << ", scale max(1, max|grad|) " << scale);
  CHECK(err <= kFdTol * scale);
}

// The same in every entry of x.
inline void check_fd(const char* what, const Buf& x, const std::vector<double>& grad,
                     const std::function<double()>& loss) {
  std::vector<int> all(x.size());
  for (int i = 0; i < x.size(); ++i) all[i] = i;
  check_fd_entries(what, x, grad, all, loss);
}

}  // namespace sk_test
