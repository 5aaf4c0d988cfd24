// kblas::gemm in every library the build has (KokkosKernels' BLAS, oneDNN)
// against a double-precision product: every transpose combination, sub-views
// whose rows are further apart than their length, alpha and beta other than
// 0 and 1, and sizes that fit no vector width.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "views.hpp"

namespace {

using Host2 = Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace>;

// rows x cols of normal numbers at (1, 2) inside a larger matrix, so that the
// sub-view's rows are 3 elements further apart than its length.
auto random_block(const char* name, int rows, int cols, std::mt19937& rng, Host2& whole) {
  whole = Host2(std::string(name), rows + 2, cols + 3);
  std::normal_distribution<float> normal;
  for (int i = 0; i < rows + 2; ++i)
    for (int j = 0; j < cols + 3; ++j) whole(i, j) = normal(rng);
  return Kokkos::subview(whole, Kokkos::make_pair(1, rows + 1), Kokkos::make_pair(2, cols + 2));
}

// x rounded to the nearest bf16 (8 significant bits), ties to even: the
// mantissa scaled to 8 bits and rounded in the default rounding mode.
double bf16_rounded(float x) {
  int e;
  const double m = std::frexp(double(x), &e);
  return std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8);
}

// How a gemm runs: its library, and in bf16 whether b lies in a buffer that
// has a registered bf16 copy (as the model's weights do).
struct Mode {
  sk::kblas::GemmLibrary library;
  bool bf16 = false, b_copied = false;
  bool rounded_reference = true;  // bf16: compare with a product of rounded inputs
};

template <class View>
double at(const View& v, bool transposed, int i, int j, bool bf16 = false) {
  const float x = transposed ? v(j, i) : v(i, j);
  return bf16 ? bf16_rounded(x) : x;
}

// Runs kblas::gemm as `mode` says.
template <class A, class B, class C>
void run_gemm(const Mode& mode, bool ta, bool tb, float alpha, const A& a, const B& b, float beta, const C& c,
              const Host2& b_whole) {
  REQUIRE(sk::kblas::set_gemm_library(mode.library));
  if (mode.bf16) sk::kblas::gemm_precision() = sk::kblas::GemmPrecision::bf16;
#if defined(SK_HAVE_ONEDNN)
  std::unique_ptr<sk::onednn::Bf16Copy> copy;
  if (mode.b_copied) {
    copy = std::make_unique<sk::onednn::Bf16Copy>(b_whole.data(), b_whole.size());
    copy->refresh();
  }
#else
  (void)b_whole;
#endif
  sk::kblas::gemm(Kokkos::DefaultHostExecutionSpace(), ta ? "T" : "N", tb ? "T" : "N", alpha, a, b, beta, c);
  sk::kblas::gemm_precision() = sk::kblas::GemmPrecision::fp32;
  sk::kblas::set_gemm_library(sk::kblas::default_gemm_library);
}

// c = alpha op(a) op(b) + beta c as `mode` says, against the same in double
// (of bf16-rounded inputs in bf16): the largest error relative to the sum of
// |terms| of its element.
double gemm_error(const Mode& mode, bool ta, bool tb, int M, int K, int N, float alpha, float beta) {
  std::mt19937 rng(M * 131 + K * 17 + N + ta * 2 + tb);
  Host2 a_whole, b_whole, c_whole;
  const auto a = random_block("a", ta ? K : M, ta ? M : K, rng, a_whole);
  const auto b = random_block("b", tb ? N : K, tb ? K : N, rng, b_whole);
  const auto c = random_block("c", M, N, rng, c_whole);
  // beta = 0 must not read c: NaN there would spread into the product.
  if (beta == 0)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) c(i, j) = std::numeric_limits<float>::quiet_NaN();
  std::vector<double> want(std::size_t(M) * N), scale(std::size_t(M) * N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double sum = 0, abs = 0;
      for (int k = 0; k < K; ++k) {
        const bool round = mode.bf16 && mode.rounded_reference;
        const double t = at(a, ta, i, k, round) * at(b, tb, k, j, round);
        sum += t;
        abs += std::fabs(t);
      }
      const double old = beta == 0 ? 0 : double(beta) * c(i, j);
      want[i * N + j] = alpha * sum + old;
      scale[i * N + j] = std::fabs(alpha) * abs + std::fabs(old);
    }
  const Host2 c_before("c_before", c_whole.extent(0), c_whole.extent(1));
  Kokkos::deep_copy(c_before, c_whole);
  run_gemm(mode, ta, tb, alpha, a, b, beta, c, b_whole);
  double err = 0;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      const double e = std::fabs(c(i, j) - want[i * N + j]) / scale[i * N + j];
      err = std::isnan(e) ? INFINITY : std::max(err, e);
    }
  // Outside the sub-view nothing changes.
  for (int i = 0; i < int(c_whole.extent(0)); ++i)
    for (int j = 0; j < int(c_whole.extent(1)); ++j)
      if ((i < 1 || i > M || j < 2 || j > N + 1) && !(c_whole(i, j) == c_before(i, j))) err = INFINITY;
  return err;
}

}  // namespace

TEST_CASE("gemm in each built library matches a double product (transposes, strides, alpha, beta)", "[kernels][gemm]") {
  std::vector<sk::kblas::GemmLibrary> libraries = {sk::kblas::GemmLibrary::blas};
  if (sk::kblas::onednn_built) libraries.push_back(sk::kblas::GemmLibrary::onednn);
  for (auto library : libraries)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 1.0f, 0.75f})
          for (float alpha : {1.0f, -0.5f}) {
            // Odd sizes, a single row (the sampler's next-token logits) and a long inner dimension.
            const int shapes[][3] = {{7, 13, 5}, {1, 33, 17}, {37, 300, 19}};
            for (const auto& s : shapes) {
              INFO("library " << int(library) << " ta " << ta << " tb " << tb << " alpha " << alpha << " beta " << beta
                              << " M K N " << s[0] << " " << s[1] << " " << s[2]);
              // float rounding of sums of up to 300 terms, relative to their magnitude.
              CHECK(gemm_error({library}, ta, tb, s[0], s[1], s[2], alpha, beta) < 1e-5);
            }
          }
}

TEST_CASE("gemm library oneDNN can be chosen only in builds that have it", "[kernels][gemm]") {
  CHECK(sk::kblas::set_gemm_library(sk::kblas::GemmLibrary::onednn) == sk::kblas::onednn_built);
  CHECK(sk::kblas::set_gemm_library(sk::kblas::GemmLibrary::blas));
  sk::kblas::set_gemm_library(sk::kblas::default_gemm_library);
  CHECK(sk::kblas::gemm_library() == sk::kblas::default_gemm_library);
}

#if defined(SK_HAVE_ONEDNN)
TEST_CASE("bf16 gemms round their inputs to nearest even and accumulate in float", "[kernels][gemm][bf16]") {
  if (!sk::onednn::bf16_missing().empty()) {
    WARN("skipped: " << sk::onednn::bf16_missing());
    return;
  }
  const auto onednn = sk::kblas::GemmLibrary::onednn;
  for (bool b_copied : {false, true})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 1.0f, 0.75f}) {
          const int shapes[][3] = {{7, 13, 5}, {1, 33, 17}, {37, 300, 19}};
          for (const auto& s : shapes) {
            INFO("copied b " << b_copied << " ta " << ta << " tb " << tb << " beta " << beta << " M K N " << s[0]
                             << " " << s[1] << " " << s[2]);
            // Against rounded inputs: float accumulation only, as in fp32.
            CHECK(gemm_error({onednn, true, b_copied}, ta, tb, s[0], s[1], s[2], -0.5f, beta) < 1e-5);
            // Against the exact inputs: bf16's rounding shows (2u = 2^-7 at most per term).
            const double exact = gemm_error({onednn, true, b_copied, false}, ta, tb, s[0], s[1], s[2], -0.5f, beta);
            CHECK(exact > 1e-4);
            CHECK(exact < 1.0 / 128);
          }
        }
}
#endif

#if defined(SK_HAVE_ONEDNN)
namespace {

// c = a . b in the library and precision in force, for the scope test below.
Host2 product(const Host2& a, const Host2& b) {
  Host2 c("c", a.extent(0), b.extent(1));
  sk::kblas::gemm(Kokkos::DefaultHostExecutionSpace(), "N", "N", 1.0f, a, b, 0.0f, c);
  return c;
}

bool same_bits(const Host2& x, const Host2& y) {
  for (int i = 0; i < int(x.extent(0)); ++i)
    for (int j = 0; j < int(x.extent(1)); ++j)
      if (std::memcmp(&x(i, j), &y(i, j), sizeof(float)) != 0) return false;
  return true;
}

}  // namespace

TEST_CASE("a ConvertOnce scope's bf16 copy serves the gemms inside it and goes with it", "[kernels][gemm][bf16]") {
  if (!sk::onednn::bf16_missing().empty()) {
    WARN("skipped: " << sk::onednn::bf16_missing());
    return;
  }
  const Kokkos::DefaultHostExecutionSpace space;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  const Host2 x("x", 11, 24), xb("xb", 24, 6);  // contiguous, as the scopes' buffers are
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);
  for (std::size_t i = 0; i < xb.size(); ++i) xb.data()[i] = normal(rng);
  REQUIRE(sk::kblas::set_gemm_library(sk::kblas::GemmLibrary::onednn));
  sk::kblas::gemm_precision() = sk::kblas::GemmPrecision::bf16;
  const Host2 before = product(x, xb);
  const float old = x(3, 5);
  {
    const sk::kblas::ConvertOnce outer(space, x);
    CHECK(same_bits(product(x, xb), before));  // the copy rounds as each gemm's own conversion does
    x(3, 5) = old + 1000;                      // against the rules, to see which bytes the gemm reads
    {
      const sk::kblas::ConvertOnce inner(space, x);  // covered by outer: converts nothing
      CHECK(same_bits(product(x, xb), before));
    }
    CHECK(same_bits(product(x, xb), before));  // inner's end left outer's copy in force
  }
  const Host2 after = product(x, xb);  // the scope is gone: x's own values again
  CHECK(!same_bits(after, before));
  CHECK(after(3, 0) != before(3, 0));
  CHECK(after(2, 0) == before(2, 0));
  // In fp32 a scope does nothing: the gemm reads x as it is.
  sk::kblas::gemm_precision() = sk::kblas::GemmPrecision::fp32;
  x(3, 5) = old;
  const Host2 fp32_before = product(x, xb);
  {
    const sk::kblas::ConvertOnce once(space, x);
    x(3, 5) = old + 1000;
    CHECK(!same_bits(product(x, xb), fp32_before));
  }
  sk::kblas::set_gemm_library(sk::kblas::default_gemm_library);
}
#endif
