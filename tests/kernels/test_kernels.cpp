// Kernel tests in double precision: forwards against direct host computations,
// backwards against central finite differences of L = sum(out * R) for a
// random upstream gradient R (the backward is run with dout = R).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernel_checks.hpp"
#include "crossentropy.hpp"
#include "encoder.hpp"
#include "gelu.hpp"
#include "matmul.hpp"
#include "residual.hpp"

using namespace sk_test;

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
  Kokkos::deep_copy(inplace.dev, R.dev);
  sk::gelu_backward<double>(inplace.t(), x.t(), inplace.t());
  CHECK(inplace.values() == grad);
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

TEST_CASE("crossentropy forward matches the host and backward matches finite differences", "[kernels]") {
  // V below one lane group (kernels/crossentropy.hpp's kLanes), whole groups,
  // and groups with a tail.
  for (const int V : {11, 48, 53}) {
    INFO("V = " << V);
    std::mt19937 rng(6 + V);
    const int B = 2, T = 5, N = B * T, Vp = (V + 15) / 16 * 16 + 16;
    std::vector<int> ids(N);
    for (int r = 0; r < N; ++r) ids[r] = int(rng() % V);
    ids[1] = 0;
    ids[3] = V - 1;  // both ends of the vocabulary
    const sk::TokenView targets = make_tokens(B, T, ids);
    const sk::RowTokens rows = sk::row_tokens(targets, 0, N);
    Buf logits(N, Vp), probs(N, Vp), losses(1, N);
    std::normal_distribution<double> dist(0.0, 2.0);
    for (int r = 0; r < N; ++r)
      for (int v = 0; v < Vp; ++v) logits(r, v) = v < V ? dist(rng) : 50.0;  // padding would dominate
    logits.upload();
    // In place: probs starts as a copy of the logits.
    const auto forward = [&] {
      Kokkos::deep_copy(probs.dev, logits.dev);
      sk::crossentropy_forward<double>(losses.t1(), probs.t(), rows, V);
    };
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

    // The loss is the mean over rows, so dloss = 1/N and L = sum(losses) / N.
    // The backward overwrites the probabilities with the gradient.
    const double dloss = 1.0 / N;
    Buf R(1, N);
    fill(R, dloss);
    sk::crossentropy_backward<double>(probs.t(), rows, dloss);
    const auto grad = probs.values();
    for (int r = 0; r < N; ++r)
      for (int v = V; v < Vp; ++v) CHECK(grad[r * Vp + v] == 0.0);  // padded columns
    check_fd("crossentropy dlogits", logits, grad, [&] {
      forward();
      return sum_product(losses, R);
    });

    // With the probabilities scaled by dloss in the forward, only the label
    // entries change after it: the same gradient.
    Buf scaled(N, Vp);
    Kokkos::deep_copy(scaled.dev, logits.dev);
    sk::crossentropy_forward<double>(losses.t1(), scaled.t(), rows, V, dloss);
    check_close("crossentropy losses, scaled forward", losses.values(), want_loss, kExactTol);
    sk::crossentropy_backward_scaled<double>(scaled.t(), rows, dloss);
    check_close("crossentropy dlogits, scaled forward", scaled.values(), grad, kExactTol);
  }
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
  Kokkos::View<int*, sk::MemSpace> scratch("scratch", sk::encoder_backward_scratch_size(Vp, B * T));
  sk::encoder_backward<double>(dwte.t(), dwpe.t(), R.t(), tokens, scratch);
  const auto loss = [&] {
    forward();
    return sum_product(out, R);
  };
  check_fd("encoder dwte", wte, added(dwte, dwte0), loss);
  check_fd("encoder dwpe", wpe, added(dwpe, dwpe0), loss);
}
