// LayerNorm (kernels/layernorm.hpp): the forward against the host, the
// backward against finite differences in double, and the parameter
// gradients' deterministic column sums in float at awkward sizes.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_checks.hpp"
#include "layernorm.hpp"
#include "reduction.hpp"

using namespace sk_test;

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
  Buf partials(1, int(sk::column_partials_size(N, C, 2)));
  sk::layernorm_backward<double>(dinp.t(), dweight.t1(), dbias.t1(), R.t(), inp.t(), weight.t1(), mean.t1(),
                                 rstd.t1(), partials.t1());
  const auto loss = [&] {
    forward();
    return sum_product(out, R);
  };
  check_fd("layernorm dinp", inp, added(dinp, dinp0), loss);
  check_fd("layernorm dweight", weight, added(dweight, dweight0), loss);
  check_fd("layernorm dbias", bias, added(dbias, dbias0), loss);
}

TEST_CASE("layernorm parameter gradients are deterministic column sums at awkward sizes", "[reductions]") {
  const int rows[] = {1, 5, sk::kRowBlock - 1, sk::kRowBlock, sk::kRowBlock + 1, 3 * sk::kRowBlock + 7};
  const int cols[] = {1, 7, 768, sk::kColumnTile + 3};
  std::mt19937 rng(11);
  for (int N : rows)
    for (int C : cols) {
      INFO("N = " << N << ", C = " << C);
      const auto inp = random_vec<float>(std::size_t(N) * C, rng, 0.3, 1.5);
      const auto dout = random_vec<float>(std::size_t(N) * C, rng);
      const auto weight = random_vec<float>(C, rng, 1.0, 0.2);
      const auto mean = random_vec<float>(N, rng, 0.3, 0.1);
      auto rstd = random_vec<float>(N, rng);
      for (int r = 0; r < N; ++r) rstd.host(r) = 0.5f + std::fabs(rstd.host(r));
      rstd.upload();
      const auto dweight0 = random_vec<float>(C, rng), dbias0 = random_vec<float>(C, rng);
      // Garbage in the scratch: stage 1 must overwrite every partial it uses.
      DeviceBuffer<float> partials(sk::column_partials_size(N, C, 2));
      Kokkos::deep_copy(partials.dev, 1e30f);

      auto run = [&](std::vector<float>& dw, std::vector<float>& db) {
        DeviceBuffer<float> dinp(std::size_t(N) * C), dweight(C), dbias(C);
        Kokkos::deep_copy(dweight.dev, dweight0.dev);
        Kokkos::deep_copy(dbias.dev, dbias0.dev);
        sk::layernorm_backward<float>(dinp.t2(N, C), dweight.t1(), dbias.t1(), dout.t2(N, C), inp.t2(N, C),
                                      weight.t1(), mean.t1(), rstd.t1(), partials.t1());
        dw = dweight.values();
        db = dbias.values();
      };
      std::vector<float> dw, db, dw2, db2;
      run(dw, db);
      run(dw2, db2);
      CHECK(same_bits(dw, dw2));
      CHECK(same_bits(db, db2));

      std::vector<double> want_w(C), want_b(C), mag_w(C), mag_b(C);
      for (int c = 0; c < C; ++c) {
        want_w[c] = dweight0.host(c);
        want_b[c] = dbias0.host(c);
        mag_w[c] = std::fabs(want_w[c]);
        mag_b[c] = std::fabs(want_b[c]);
        for (int r = 0; r < N; ++r) {
          const double d = dout.host(std::size_t(r) * C + c);
          const double term = d * (double(inp.host(std::size_t(r) * C + c)) - mean.host(r)) * rstd.host(r);
          want_w[c] += term;
          want_b[c] += d;
          mag_w[c] += std::fabs(term);
          mag_b[c] += std::fabs(d);
        }
      }
      // Float sums of up to ~100 terms in blocks: a few units of 2^-24 per
      // term's magnitude. A missing or doubled row is off by O(1) relative.
      check_sums("dweight", dw, want_w, mag_w, 1e-5);
      check_sums("dbias", db, want_b, mag_b, 1e-5);
    }
}
