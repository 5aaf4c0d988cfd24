// Tests of both attention implementations (kernels/attention.hpp: the tiled
// team kernels of GPUs and the blocks of BLAS products of CPUs) at awkward
// sizes: T = 1, 7, 63, 64, 65, 129 and 1024 (around and across the 64-row
// tiles of host teams, the 32-row tiles of GPUs and the 128-row blocks),
// head sizes 16, 48, 64 and 80, several batches and heads. The forward is
// checked against a host computation in double straight from the formula,
// the backward against the analytic gradient computed on the host and
// against central finite differences of L = sum(out * R).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernel_checks.hpp"
#include "attention.hpp"

using namespace sk_test;

namespace {

// Results of causal attention per (batch, head) on the host, in double.
struct Reference {
  std::vector<double> out, lse, dqkv;
};

// out = softmax(q k^T / sqrt(HS), causal) v; lse the logsumexp of each row's
// scaled scores; dqkv the gradient of sum(out * R).
Reference reference(const Buf& qkv, const Buf& R, sk::AttentionShape s) {
  const int B = s.B, T = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
  const double scale = 1 / std::sqrt(double(HS));
  Reference ref;
  ref.out.assign(std::size_t(B) * T * C, 0.0);
  ref.lse.assign(std::size_t(B) * NH * T, 0.0);
  ref.dqkv.assign(std::size_t(B) * T * 3 * C, 0.0);
  std::vector<double> p(T), dp(T);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        const int row = b * T + t;
        double m = -INFINITY;
        for (int t2 = 0; t2 <= t; ++t2) {
          double dot = 0;
          for (int i = 0; i < HS; ++i) dot += qkv(row, h * HS + i) * qkv(b * T + t2, C + h * HS + i);
          p[t2] = dot * scale;
          m = std::max(m, p[t2]);
        }
        double sum = 0;
        for (int t2 = 0; t2 <= t; ++t2) sum += std::exp(p[t2] - m);
        const double lse = m + std::log(sum);
        ref.lse[std::size_t(b * NH + h) * T + t] = lse;
        double delta = 0;  // sum_t2 p dp = R_t . out_t
        for (int t2 = 0; t2 <= t; ++t2) {
          p[t2] = std::exp(p[t2] - lse);
          double dot = 0;
          for (int i = 0; i < HS; ++i) {
            ref.out[std::size_t(row) * C + h * HS + i] += p[t2] * qkv(b * T + t2, 2 * C + h * HS + i);
            dot += R(row, h * HS + i) * qkv(b * T + t2, 2 * C + h * HS + i);
          }
          dp[t2] = dot;
          delta += p[t2] * dot;
        }
        for (int t2 = 0; t2 <= t; ++t2) {
          const double ds = p[t2] * (dp[t2] - delta) * scale;
          const std::size_t q = std::size_t(row) * 3 * C + h * HS, k = std::size_t(b * T + t2) * 3 * C + C + h * HS;
          for (int i = 0; i < HS; ++i) {
            ref.dqkv[q + i] += ds * qkv(b * T + t2, C + h * HS + i);
            ref.dqkv[k + i] += ds * qkv(row, h * HS + i);
            ref.dqkv[k + C + i] += p[t2] * R(row, h * HS + i);
          }
        }
      }
  return ref;
}

// Backward vs the host's analytic gradient, and forward statistics: a few
// roundings per term of sums over up to T terms, in double.
constexpr double kGradTol = 1e-11;

// Every implementation of the attention contract runs on the host: the tiled
// team kernels (the GPU path for long contexts), the blocks of BLAS products
// (the CPU path) and the batched gemms (the GPU path where the scores fit).
enum class Impl { tiled, blocked, batched };
constexpr Impl kImpls[] = {Impl::tiled, Impl::blocked, Impl::batched};
const char* name(Impl impl) { return impl == Impl::tiled ? "tiled" : impl == Impl::blocked ? "blocked" : "batched"; }

std::size_t scratch_size(Impl impl, sk::AttentionShape s) {
  if (impl == Impl::tiled) return std::size_t(s.B) * s.NH * s.T;
  return impl == Impl::blocked ? sk::attention_blocked_scratch_size(s) : sk::attention_batched_scratch_size(s);
}

template <class T>
void forward(Impl impl, sk::Tensor2<T> out, sk::Tensor1<T> lse, sk::Tensor1<T> scratch, sk::ConstTensor2<T> qkv,
             sk::AttentionShape s) {
  if (impl == Impl::tiled)
    sk::attention_forward_tiled<T>(out, lse, qkv, s);
  else if (impl == Impl::blocked)
    sk::attention_forward_blocked<T>(out, lse, scratch, qkv, s);
  else
    sk::attention_forward_batched<T>(out, lse, scratch, qkv, s);
}

template <class T>
void backward(Impl impl, sk::Tensor2<T> dqkv, sk::Tensor1<T> scratch, sk::ConstTensor2<T> dout,
              sk::ConstTensor2<T> qkv, sk::ConstTensor2<T> out, sk::ConstTensor1<T> lse, sk::AttentionShape s) {
  if (impl == Impl::tiled)
    sk::attention_backward_tiled<T>(dqkv, scratch, dout, qkv, out, lse, s);
  else if (impl == Impl::blocked)
    sk::attention_backward_blocked<T>(dqkv, scratch, dout, qkv, out, lse, s);
  else
    sk::attention_backward_batched<T>(dqkv, scratch, dout, qkv, out, lse, s);
}

// Entries of qkv [B*T, 3C] for a sampled finite-difference check: every
// column of q, k and v in the rows at both ends of the sequence and on both
// sides of each tile boundary, and `extra` random others.
std::vector<int> sample_entries(sk::AttentionShape s, std::mt19937& rng, int extra) {
  const int C = s.NH * s.HS;
  std::vector<int> rows = {0, s.T - 1};
  for (const int t : {31, 32, 63, 64})
    if (t < s.T) rows.push_back(t);
  std::vector<int> entries;
  for (const int t : rows)
    for (int c = 0; c < 3 * C; c += std::max(1, 3 * C / 24)) entries.push_back((s.B - 1) * s.T * 3 * C + t * 3 * C + c);
  std::uniform_int_distribution<int> any(0, s.B * s.T * 3 * C - 1);
  for (int i = 0; i < extra; ++i) entries.push_back(any(rng));
  return entries;
}

// Runs forward and backward in double on random inputs and checks them.
// fd: "all" checks every entry of dqkv by finite differences, "sample" some,
// "none" only compares with the host gradient.
enum class Fd { all, sample, none };
void check_attention(Impl impl, sk::AttentionShape s, Fd fd, unsigned seed) {
  INFO(name(impl) << " B=" << s.B << " T=" << s.T << " NH=" << s.NH << " HS=" << s.HS);
  std::mt19937 rng(seed);
  const int B = s.B, T = s.T, NH = s.NH, C = NH * s.HS;
  Buf qkv(B * T, 3 * C), out(B * T, C), lse(1, B * NH * T), R(B * T, C);
  fill_normal(qkv, rng);
  fill_normal(R, rng);
  fill(out, kGarbage);  // overwritten
  fill(lse, kGarbage);
  Buf scratch(1, int(scratch_size(impl, s)));
  fill(scratch, kGarbage);
  const auto run_forward = [&] { forward<double>(impl, out.t(), lse.t1(), scratch.t1(), qkv.t(), s); };
  run_forward();
  const Reference ref = reference(qkv, R, s);
  check_close("attention out", out.values(), ref.out, kExactTol);
  check_close("attention lse", lse.values(), ref.lse, kExactTol);

  // dqkv is overwritten (=).
  Buf dqkv(B * T, 3 * C);
  fill(dqkv, kGarbage);
  fill(scratch, kGarbage);
  backward<double>(impl, dqkv.t(), scratch.t1(), R.t(), qkv.t(), out.t(), lse.t1(), s);
  const auto grad = dqkv.values();
  check_close("attention dqkv vs host", grad, ref.dqkv, kGradTol);

  const auto loss = [&] {
    run_forward();
    return sum_product(out, R);
  };
  if (fd == Fd::all) check_fd("attention dqkv", qkv, grad, loss);
  if (fd == Fd::sample) check_fd_entries("attention dqkv (sampled)", qkv, grad, sample_entries(s, rng, 40), loss);
}

}  // namespace

TEST_CASE("attention forward and backward at short sequences match the host and finite differences",
          "[kernels][attention]") {
  for (const Impl impl : kImpls) {
    check_attention(impl, {2, 5, 3, 4}, Fd::all, 5);   // head size below any register block
    check_attention(impl, {2, 10, 3, 10}, Fd::all, 6);  // the PyTorch reference model's heads
    unsigned seed = 10;
    for (const int HS : {16, 48, 64, 80})
      for (const int T : {1, 7}) check_attention(impl, {2, T, 2, HS}, Fd::all, seed++);
  }
}

// Tiles of 64 rows and keys (32 on GPUs) in the tiled kernels, blocks of 128
// query rows in the blocked ones.
TEST_CASE("attention forward and backward across tile boundaries match the host and finite differences",
          "[kernels][attention]") {
  for (const Impl impl : kImpls) {
    unsigned seed = 20;
    for (const int T : {63, 64, 65, 129})
      for (const int HS : {16, 48, 64, 80})
        check_attention(impl, {2, T, 2, HS}, HS == 64 || HS == 80 ? Fd::sample : Fd::none, seed++);
  }
}

TEST_CASE("attention at T=1024 matches the host", "[kernels][attention]") {
  for (const Impl impl : kImpls) {
    check_attention(impl, {1, 1024, 2, 64}, Fd::none, 30);
    check_attention(impl, {1, 1024, 1, 80}, Fd::none, 31);
  }
}

// Float, as the model runs it, with scores large enough (|s| up to ~150) that
// exp would overflow without the running max, and that the max moves from tile
// to tile: against the double host reference of the same (rounded) inputs.
TEST_CASE("attention in float at T=1024 with large scores matches the double host reference", "[kernels][attention]") {
  const sk::AttentionShape s{2, 1024, 2, 48};
  const int B = s.B, T = s.T, NH = s.NH, C = NH * s.HS;
  std::mt19937 rng(40);
  Buf qkv(B * T, 3 * C), R(B * T, C);
  std::normal_distribution<double> dist(0.0, 1.0);
  for (int r = 0; r < B * T; ++r)
    for (int c = 0; c < 3 * C; ++c) qkv(r, c) = double(float(dist(rng) * (c < C ? 40.0 : 1.0)));  // q . k / sqrt(HS) ~ N(0, 40^2)
  for (int i = 0; i < R.size(); ++i) R[i] = double(float(dist(rng)));
  qkv.upload();
  R.upload();
  const Reference ref = reference(qkv, R, s);
  double smax = 0;
  for (const double l : ref.lse) smax = std::max(smax, l);
  INFO("largest lse " << smax);
  REQUIRE(smax > 100);  // exp(s) of float would overflow without the running max

  sk::View1<float> fqkv("qkv", qkv.size()), fR("R", R.size()), fout("out", std::size_t(B) * T * C),
      flse("lse", std::size_t(B) * NH * T), fd("dqkv", qkv.size());
  auto h = Kokkos::create_mirror_view(fqkv);
  for (int i = 0; i < qkv.size(); ++i) h(i) = float(qkv[i]);
  Kokkos::deep_copy(fqkv, h);
  auto hr = Kokkos::create_mirror_view(fR);
  for (int i = 0; i < R.size(); ++i) hr(i) = float(R[i]);
  Kokkos::deep_copy(fR, hr);
  const sk::Tensor2<float> tqkv(fqkv.data(), B * T, 3 * C), tR(fR.data(), B * T, C), tout(fout.data(), B * T, C),
      tdqkv(fd.data(), B * T, 3 * C);
  const auto to_vector = [](const sk::View1<float>& v) {
    auto m = Kokkos::create_mirror_view(v);
    Kokkos::deep_copy(m, v);
    return std::vector<double>(m.data(), m.data() + m.size());
  };
  for (const Impl impl : kImpls) {
    INFO(name(impl));
    sk::View1<float> fscratch("scratch", scratch_size(impl, s));
    const sk::Tensor1<float> tscratch(fscratch.data(), fscratch.size());
    forward<float>(impl, tout, flse, tscratch, tqkv, s);
    backward<float>(impl, tdqkv, tscratch, tR, tqkv, tout, flse, s);
    // Float: scores of ~150 carry ~1e-5 absolute error into the exponents.
    check_close("float attention out", to_vector(fout), ref.out, 1e-4);
    check_close("float attention lse", to_vector(flse), ref.lse, 1e-6);
    check_close("float attention dqkv", to_vector(fd), ref.dqkv, 1e-3);
  }
}

TEST_CASE("attention gives the same bits on every run", "[kernels][attention]") {
  const sk::AttentionShape s{2, 130, 3, 48};
  const int B = s.B, T = s.T, NH = s.NH, C = NH * s.HS;
  std::mt19937 rng(50);
  Buf qkv(B * T, 3 * C), R(B * T, C), out(B * T, C), lse(1, B * NH * T), dqkv(B * T, 3 * C);
  fill_normal(qkv, rng);
  fill_normal(R, rng);
  for (const Impl impl : kImpls) {
    INFO(name(impl));
    Buf scratch(1, int(scratch_size(impl, s)));
    std::vector<double> first_out, first_grad;
    for (int run = 0; run < 3; ++run) {
      fill(out, kGarbage);
      fill(dqkv, kGarbage);
      fill(scratch, kGarbage + run);  // what scratch held before must not matter
      forward<double>(impl, out.t(), lse.t1(), scratch.t1(), qkv.t(), s);
      backward<double>(impl, dqkv.t(), scratch.t1(), R.t(), qkv.t(), out.t(), lse.t1(), s);
      const auto o = out.values(), g = dqkv.values();
      if (run == 0) {
        first_out = o;
        first_grad = g;
      } else {
        CHECK(std::memcmp(o.data(), first_out.data(), o.size() * sizeof(double)) == 0);
        CHECK(std::memcmp(g.data(), first_grad.data(), g.size() * sizeof(double)) == 0);
      }
    }
  }
}
