// Kernel tests in double precision: forwards against direct host computations,
// backwards against central finite differences of L = sum(out * R) for a
// random upstream gradient R (the backward is run with dout = R).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <random>
#include <vector>

#include "kernels/attention.hpp"
#include "kernels/crossentropy.hpp"
#include "kernels/encoder.hpp"
#include "kernels/gelu.hpp"
#include "kernels/layernorm.hpp"
#include "kernels/matmul.hpp"
#include "kernels/residual.hpp"

namespace {

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

// A [rows, cols] tensor of doubles: a managed device buffer, unmanaged views
// over it of the kernels' types, and a host mirror to set and read values.
struct Buf {
  int rows, cols;
  View1<double> mem;
  View1<double>::HostMirror host;

  Buf(int r, int c)
      : rows(r), cols(c), mem("buf", std::size_t(r) * c), host(Kokkos::create_mirror_view(mem)) {}
  int size() const { return rows * cols; }
  Tensor2<double> t() const { return Tensor2<double>(mem.data(), rows, cols); }
  Tensor1<double> t1() const { return Tensor1<double>(mem.data(), size()); }  // all entries as one vector
  double& operator()(int r, int c) const { return host(std::size_t(r) * cols + c); }
  double& operator[](int i) const { return host(i); }
  void upload() const { Kokkos::deep_copy(mem, host); }
  void download() const { Kokkos::deep_copy(host, mem); }
  // Device values, read back to the host.
  std::vector<double> values() const {
    download();
    return std::vector<double>(host.data(), host.data() + size());
  }
};

void fill_normal(const Buf& b, std::mt19937& rng, double mean = 0, double sd = 1) {
  std::normal_distribution<double> dist(mean, sd);
  for (int i = 0; i < b.size(); ++i) b[i] = dist(rng);
  b.upload();
}

void fill(const Buf& b, double value) {
  for (int i = 0; i < b.size(); ++i) b[i] = value;
  b.upload();
}

// max that keeps a NaN, so that a NaN anywhere fails the check.
void update_max(double& m, double v) {
  if (!(v <= m)) m = v;
}

// Entrywise after - before: what an accumulating (+=) kernel added.
std::vector<double> added(const Buf& after, const std::vector<double>& before) {
  std::vector<double> d = after.values();
  for (std::size_t i = 0; i < d.size(); ++i) d[i] -= before[i];
  return d;
}

// L = sum(out * R) with out's device values.
double sum_product(const Buf& out, const Buf& r) {
  out.download();
  double s = 0;
  for (int i = 0; i < out.size(); ++i) s += out[i] * r[i];
  return s;
}

// Checks got against want entrywise with a bound relative to max(1, max |want|).
void check_close(const char* what, const std::vector<double>& got, const std::vector<double>& want,
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

// Checks grad = dL/dx against central differences in every entry of x.
// loss() must recompute L from the device values of x (rerunning the forward).
void check_fd(const char* what, const Buf& x, const std::vector<double>& grad,
              const std::function<double()>& loss) {
  REQUIRE(int(grad.size()) == x.size());
  x.download();
  double err = 0, scale = 1;
  for (int i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + kStep;
    x.upload();
    const double lp = loss();
    x[i] = x0 - kStep;
    x.upload();
    const double lm = loss();
    x[i] = x0;
    const double fd = (lp - lm) / (2 * kStep);
    update_max(err, std::fabs(grad[i] - fd));
    update_max(scale, std::fabs(grad[i]));
  }
  x.upload();
  INFO(what << ": max |analytic - fd| " << err << ", scale max(1, max|grad|) " << scale);
  CHECK(err <= kFdTol * scale);
}

// Token ids [B, T] on the device from host values in row-major order.
sk::TokenView make_tokens(int B, int T, const std::vector<int>& ids) {
  Kokkos::View<int**, Kokkos::LayoutRight, sk::MemSpace> tok("tokens", B, T);
  auto h = Kokkos::create_mirror_view(tok);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) h(b, t) = ids[std::size_t(b) * T + t];
  Kokkos::deep_copy(tok, h);
  return tok;
}

}  // namespace

TEST_CASE("residual_forward adds its inputs", "[kernels]") {
  std::mt19937 rng(1);
  const int N = 7, C = 10;
  Buf a(N, C), b(N, C), out(N, C);
  fill_normal(a, rng);
  fill_normal(b, rng);
  fill(out, kGarbage);
  sk::residual_forward<double>(out.t(), a.t(), b.t());
  const auto got = out.values();
  double err = 0;
  for (int i = 0; i < N * C; ++i) update_max(err, std::fabs(got[i] - (a[i] + b[i])));
  CHECK(err == 0);  // one rounding of the same sum
}

TEST_CASE("gelu forward matches the tanh formula and backward matches finite differences", "[kernels]") {
  std::mt19937 rng(2);
  const int N = 7, C = 10;
  Buf x(N, C), out(N, C), R(N, C), dinp(N, C);
  std::uniform_real_distribution<double> dist(-5, 5);
  for (int i = 0; i < x.size(); ++i) x[i] = dist(rng);
  // Zero, tiny and saturated arguments too.
  const double special[] = {0.0, 1e-3, -1e-3, 8.0, -8.0, 30.0, -30.0};
  for (int i = 0; i < 7; ++i) x[i] = special[i];
  x.upload();
  fill_normal(R, rng);

  const auto forward_loss = [&] {
    sk::gelu_forward<double>(out.t(), x.t());
    return sum_product(out, R);
  };

  fill(out, kGarbage);
  sk::gelu_forward<double>(out.t(), x.t());
  const double s = std::sqrt(2 / std::acos(-1.0));
  std::vector<double> want(x.size());
  for (int i = 0; i < x.size(); ++i)
    want[i] = 0.5 * x[i] * (1 + std::tanh(s * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
  check_close("gelu forward", out.values(), want, kExactTol);

  fill(dinp, kGarbage);  // overwritten (=)
  sk::gelu_backward<double>(dinp.t(), x.t(), R.t());
  const auto grad = dinp.values();
  check_fd("gelu dinp", x, grad, forward_loss);

  // In place, as the model's backward calls it: dinp aliases dout.
  Buf inplace(N, C);
  Kokkos::deep_copy(inplace.mem, R.mem);
  sk::gelu_backward<double>(inplace.t(), x.t(), inplace.t());
  CHECK(inplace.values() == grad);
}

TEST_CASE("layernorm forward matches the host and backward matches finite differences", "[kernels]") {
  std::mt19937 rng(3);
  const int N = 7, C = 10;
  Buf inp(N, C), weight(1, C), bias(1, C), out(N, C), mean(1, N), rstd(1, N), R(N, C);
  fill_normal(inp, rng, 0.5, 2.0);
  fill_normal(weight, rng, 1.0, 0.3);
  fill_normal(bias, rng, 0.0, 0.2);
  fill_normal(R, rng);

  const auto forward = [&] {
    sk::layernorm_forward<double>(out.t(), mean.t1(), rstd.t1(), inp.t(), weight.t1(), bias.t1());
  };
  forward();

  std::vector<double> want_out(N * C), want_mean(N), want_rstd(N);
  for (int r = 0; r < N; ++r) {
    double m = 0, v = 0;
    for (int c = 0; c < C; ++c) m += inp(r, c);
    m /= C;
    for (int c = 0; c < C; ++c) v += (inp(r, c) - m) * (inp(r, c) - m);
    const double rs = 1 / std::sqrt(v / C + 1e-5);
    want_mean[r] = m;
    want_rstd[r] = rs;
    for (int c = 0; c < C; ++c) want_out[r * C + c] = (inp(r, c) - m) * rs * weight[c] + bias[c];
  }
  check_close("layernorm mean", mean.values(), want_mean, kExactTol);
  check_close("layernorm rstd", rstd.values(), want_rstd, kExactTol);
  check_close("layernorm out", out.values(), want_out, kExactTol);

  // All three gradients accumulate (+=): start them from nonzero values.
  Buf dinp(N, C), dweight(1, C), dbias(1, C);
  fill_normal(dinp, rng);
  fill_normal(dweight, rng);
  fill_normal(dbias, rng);
  const auto dinp0 = dinp.values(), dweight0 = dweight.values(), dbias0 = dbias.values();
  sk::layernorm_backward<double>(dinp.t(), dweight.t1(), dbias.t1(), R.t(), inp.t(), weight.t1(), mean.t1(),
                                 rstd.t1());
  const auto loss = [&] {
    forward();
    return sum_product(out, R);
  };
  check_fd("layernorm dinp", inp, added(dinp, dinp0), loss);
  check_fd("layernorm dweight", weight, added(dweight, dweight0), loss);
  check_fd("layernorm dbias", bias, added(dbias, dbias0), loss);
}

TEST_CASE("matmul forward matches a triple loop and backward matches finite differences", "[kernels]") {
  std::mt19937 rng(4);
  const int N = 7, IC = 10, OC = 9;
  Buf inp(N, IC), weight(OC, IC), bias(1, OC), out(N, OC), R(N, OC);
  fill_normal(inp, rng);
  fill_normal(weight, rng, 0.0, 0.5);
  fill_normal(bias, rng);
  fill_normal(R, rng);
  View1<double> ones("ones", N);
  Kokkos::deep_copy(ones, 1.0);

  for (const bool with_bias : {true, false}) {
    INFO("with bias: " << with_bias);
    // An empty bias view means no bias.
    const Tensor1<double> b = with_bias ? bias.t1() : Tensor1<double>();
    const auto forward = [&] { sk::matmul_forward<double>(out.t(), inp.t(), weight.t(), b); };

    fill(out, kGarbage);
    forward();
    std::vector<double> want(N * OC);
    for (int r = 0; r < N; ++r)
      for (int o = 0; o < OC; ++o) {
        double acc = with_bias ? bias[o] : 0.0;
        for (int i = 0; i < IC; ++i) acc += inp(r, i) * weight(o, i);
        want[r * OC + o] = acc;
      }
    check_close("matmul forward", out.values(), want, kExactTol);

    // dinp is overwritten (=); dweight and dbias accumulate (+=).
    Buf dinp(N, IC), dweight(OC, IC), dbias(1, OC);
    fill(dinp, kGarbage);
    fill_normal(dweight, rng);
    fill_normal(dbias, rng);
    const auto dweight0 = dweight.values(), dbias0 = dbias.values();
    sk::matmul_backward<double>(dinp.t(), dweight.t(), with_bias ? dbias.t1() : Tensor1<double>(), R.t(),
                                inp.t(), weight.t(), ones);
    const auto loss = [&] {
      forward();
      return sum_product(out, R);
    };
    check_fd("matmul dinp", inp, dinp.values(), loss);
    check_fd("matmul dweight", weight, added(dweight, dweight0), loss);
    if (with_bias)
      check_fd("matmul dbias", bias, added(dbias, dbias0), loss);
    else
      CHECK(dbias.values() == dbias0);  // no bias: its gradient is left alone
  }
}

TEST_CASE("attention forward matches the host and backward matches finite differences", "[kernels]") {
  std::mt19937 rng(5);
  const sk::AttentionShape shape{2, 5, 3, 4};
  const int B = shape.B, T = shape.T, NH = shape.NH, HS = shape.HS, C = NH * HS;
  Buf qkv(B * T, 3 * C), att(B * NH * T, T), out(B * T, C), R(B * T, C);
  fill_normal(qkv, rng);
  fill_normal(R, rng);
  fill(att, kGarbage);
  fill(out, kGarbage);
  const auto forward = [&] { sk::attention_forward<double>(out.t(), att.t(), qkv.t(), shape); };
  forward();

  // Causal softmax(q k^T / sqrt(HS)) v per (batch, head), straight from the formula.
  std::vector<double> want_att(att.size(), 0.0), want_out(out.size(), 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        const int row = (b * NH + h) * T + t;
        std::vector<double> w(t + 1);
        double sum = 0;
        for (int t2 = 0; t2 <= t; ++t2) {
          double dot = 0;
          for (int i = 0; i < HS; ++i) dot += qkv(b * T + t, h * HS + i) * qkv(b * T + t2, C + h * HS + i);
          w[t2] = std::exp(dot / std::sqrt(double(HS)));
          sum += w[t2];
        }
        for (int t2 = 0; t2 <= t; ++t2) {
          want_att[row * T + t2] = w[t2] / sum;
          for (int i = 0; i < HS; ++i)
            want_out[(b * T + t) * C + h * HS + i] += w[t2] / sum * qkv(b * T + t2, 2 * C + h * HS + i);
        }
      }
  const auto got_att = att.values();
  check_close("attention att", got_att, want_att, kExactTol);
  check_close("attention out", out.values(), want_out, kExactTol);
  for (int row = 0; row < att.rows; ++row) {
    const int t = row % T;
    double sum = 0;
    for (int t2 = 0; t2 < T; ++t2) {
      if (t2 > t) CHECK(got_att[row * T + t2] == 0.0);  // causal mask
      sum += got_att[row * T + t2];
    }
    CHECK(std::fabs(sum - 1) <= kExactTol);
  }

  // dqkv is overwritten (=); dpreatt is scratch.
  Buf dqkv(B * T, 3 * C), dpreatt(B * NH * T, T);
  fill(dqkv, kGarbage);
  fill(dpreatt, kGarbage);
  sk::attention_backward<double>(dqkv.t(), dpreatt.t(), R.t(), qkv.t(), att.t(), shape);
  check_fd("attention dqkv", qkv, dqkv.values(), [&] {
    forward();
    return sum_product(out, R);
  });
}

TEST_CASE("crossentropy forward matches the host and backward matches finite differences", "[kernels]") {
  std::mt19937 rng(6);
  const int B = 2, T = 5, N = B * T, V = 11, Vp = 16;
  const std::vector<int> ids = {0, 10, 3, 3, 7, 1, 10, 5, 0, 9};  // all < V, both ends included
  const sk::TokenView targets = make_tokens(B, T, ids);
  Buf logits(N, Vp), probs(N, Vp), losses(1, N);
  std::normal_distribution<double> dist(0.0, 2.0);
  for (int r = 0; r < N; ++r)
    for (int v = 0; v < Vp; ++v) logits(r, v) = v < V ? dist(rng) : 50.0;  // padding would dominate
  logits.upload();
  fill(probs, kGarbage);  // overwritten, padding included
  const auto forward = [&] { sk::crossentropy_forward<double>(losses.t1(), probs.t(), logits.t(), targets, V); };
  forward();

  std::vector<double> want_loss(N), want_probs(N * Vp, 0.0);
  for (int r = 0; r < N; ++r) {
    double m = logits(r, 0), sum = 0;
    for (int v = 1; v < V; ++v) m = std::max(m, logits(r, v));
    for (int v = 0; v < V; ++v) sum += std::exp(logits(r, v) - m);
    for (int v = 0; v < V; ++v) want_probs[r * Vp + v] = std::exp(logits(r, v) - m) / sum;
    want_loss[r] = m + std::log(sum) - logits(r, ids[r]);
  }
  check_close("crossentropy probs", probs.values(), want_probs, kExactTol);
  check_close("crossentropy losses", losses.values(), want_loss, kExactTol);

  // In place, as the model calls it: probs aliases logits.
  Buf inplace(N, Vp);
  Kokkos::deep_copy(inplace.mem, logits.mem);
  sk::crossentropy_forward<double>(losses.t1(), inplace.t(), inplace.t(), targets, V);
  CHECK(inplace.values() == probs.values());
  check_close("crossentropy losses in place", losses.values(), want_loss, kExactTol);

  // The loss is the mean over rows, so dloss = 1/N and L = sum(losses) / N.
  const double dloss = 1.0 / N;
  Buf dlogits(N, Vp), R(1, N);
  fill(R, dloss);
  fill(dlogits, kGarbage);  // overwritten (=)
  sk::crossentropy_backward<double>(dlogits.t(), probs.t(), targets, dloss);
  const auto grad = dlogits.values();
  for (int r = 0; r < N; ++r)
    for (int v = V; v < Vp; ++v) CHECK(grad[r * Vp + v] == 0.0);  // padded columns
  check_fd("crossentropy dlogits", logits, grad, [&] {
    forward();
    return sum_product(losses, R);
  });

  // In place: the gradient overwrites the probabilities.
  sk::crossentropy_backward<double>(inplace.t(), inplace.t(), targets, dloss);
  CHECK(inplace.values() == grad);
}

TEST_CASE("encoder forward adds the embeddings and backward matches finite differences", "[kernels]") {
  std::mt19937 rng(7);
  const int B = 2, T = 5, C = 10, Vp = 13, block_size = 7;
  // Repeated ids: token 3 at four positions, token 1 at three, across both rows.
  const std::vector<int> ids = {3, 1, 3, 0, 3, 1, 12, 3, 5, 1};
  const sk::TokenView tokens = make_tokens(B, T, ids);
  Buf wte(Vp, C), wpe(block_size, C), out(B * T, C), R(B * T, C);
  fill_normal(wte, rng);
  fill_normal(wpe, rng);
  fill_normal(R, rng);
  fill(out, kGarbage);
  const auto forward = [&] { sk::encoder_forward<double>(out.t(), tokens, wte.t(), wpe.t()); };
  forward();

  std::vector<double> want(out.size());
  for (int bt = 0; bt < B * T; ++bt)
    for (int c = 0; c < C; ++c) want[bt * C + c] = wte(ids[bt], c) + wpe(bt % T, c);
  CHECK(out.values() == want);  // one rounding of the same sum

  // Both gradients accumulate (+=): start them from nonzero values. Rows of
  // wpe past T and of wte for unused tokens must get nothing.
  Buf dwte(Vp, C), dwpe(block_size, C);
  fill_normal(dwte, rng);
  fill_normal(dwpe, rng);
  const auto dwte0 = dwte.values(), dwpe0 = dwpe.values();
  sk::encoder_backward<double>(dwte.t(), dwpe.t(), R.t(), tokens);
  const auto loss = [&] {
    forward();
    return sum_product(out, R);
  };
  check_fd("encoder dwte", wte, added(dwte, dwte0), loss);
  check_fd("encoder dwpe", wpe, added(dwpe, dwpe0), loss);
}
