// The deterministic column reductions (LayerNorm's and the embeddings'
// parameter gradients) and GNB label sampling, at awkward sizes: row counts
// below, at and off the row block, one and odd channel counts, repeated
// tokens. Reductions are checked against double host sums and for identical
// bits on a second call; sampling against the serial inverse CDF.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "encoder.hpp"
#include "kernel_checks.hpp"
#include "optimizer_update.hpp"
#include "random.hpp"
#include "reduction.hpp"
#include "sampling.hpp"

namespace {

using sk::MemSpace;

using namespace sk_test;

}  // namespace

TEST_CASE("encoder backward adds each position once, in position order, at awkward sizes", "[reductions]") {
  struct Shape {
    int B, T, C, Vp;
    const char* tokens;  // "random", "same", "distinct"
  };
  const Shape shapes[] = {
      {1, 1, 1, 5, "random"},      {1, 7, 7, 3, "random"},      {2, 5, 7, 11, "same"},
      {3, 50, 768, 64, "random"},  {4, 33, 7, 50304, "random"}, {2, 40, 1, 97, "same"},
      {3, 17, 768, 64, "distinct"}, {1, 31, 128, 50304, "distinct"},
  };
  std::mt19937 rng(12);
  for (const auto& s : shapes) {
    const int N = s.B * s.T;
    INFO("B = " << s.B << ", T = " << s.T << ", C = " << s.C << ", Vp = " << s.Vp << ", tokens " << s.tokens);
    std::vector<int> ids(N);
    for (int p = 0; p < N; ++p) {
      if (std::string(s.tokens) == "same") ids[p] = s.Vp - 1;
      else if (std::string(s.tokens) == "distinct") ids[p] = (p * 7) % s.Vp;  // N <= Vp, 7 coprime with both Vp
      else ids[p] = int(rng() % std::min(s.Vp, 13));  // few tokens: many repeats
    }
    const sk::TokenView tokens = make_tokens(s.B, s.T, ids);
    const auto dout = random_vec<float>(std::size_t(N) * s.C, rng);
    const auto dwte0 = random_vec<float>(std::size_t(s.Vp) * s.C, rng);
    const auto dwpe0 = random_vec<float>(std::size_t(s.T) * s.C, rng);
    Kokkos::View<int*, MemSpace> scratch("scratch", sk::encoder_backward_scratch_size(s.Vp, N));
    Kokkos::deep_copy(scratch, -7);  // garbage: the kernel must initialise what it uses

    auto run = [&](std::vector<float>& wte, std::vector<float>& wpe) {
      DeviceBuffer<float> dwte(dwte0.dev.extent(0)), dwpe(dwpe0.dev.extent(0));
      Kokkos::deep_copy(dwte.dev, dwte0.dev);
      Kokkos::deep_copy(dwpe.dev, dwpe0.dev);
      sk::encoder_backward<float>(dwte.t2(s.Vp, s.C), dwpe.t2(s.T, s.C), dout.t2(N, s.C), tokens, scratch);
      wte = dwte.values();
      wpe = dwpe.values();
    };
    std::vector<float> wte, wpe, wte2, wpe2;
    run(wte, wpe);
    run(wte2, wpe2);
    CHECK(same_bits(wte, wte2));
    CHECK(same_bits(wpe, wpe2));

    // The float result of adding the positions one after another in
    // ascending order (the documented order), and double references.
    std::vector<float> serial_wte(dwte0.host.data(), dwte0.host.data() + dwte0.host.extent(0));
    std::vector<float> serial_wpe(dwpe0.host.data(), dwpe0.host.data() + dwpe0.host.extent(0));
    std::vector<double> want_wte(serial_wte.begin(), serial_wte.end()), want_wpe(serial_wpe.begin(), serial_wpe.end());
    std::vector<double> mag_wte(want_wte.size()), mag_wpe(want_wpe.size());
    for (std::size_t i = 0; i < want_wte.size(); ++i) mag_wte[i] = std::fabs(want_wte[i]);
    for (std::size_t i = 0; i < want_wpe.size(); ++i) mag_wpe[i] = std::fabs(want_wpe[i]);
    for (int p = 0; p < N; ++p)
      for (int c = 0; c < s.C; ++c) {
        const float d = dout.host(std::size_t(p) * s.C + c);
        const std::size_t e = std::size_t(ids[p]) * s.C + c, w = std::size_t(p % s.T) * s.C + c;
        serial_wte[e] += d;
        serial_wpe[w] += d;
        want_wte[e] += d;
        want_wpe[w] += d;
        mag_wte[e] += std::fabs(d);
        mag_wpe[w] += std::fabs(d);
      }
    CHECK(same_bits(wte, serial_wte));  // also: rows of unused tokens keep their bits
    CHECK(same_bits(wpe, serial_wpe));
    check_sums("dwte", wte, want_wte, mag_wte, 1e-5);
    check_sums("dwpe", wpe, want_wpe, mag_wpe, 1e-5);
  }
}

namespace {

// Rows of probabilities for sample_labels, [N, Vp], float as in training;
// padded columns hold a large value that a kernel reading them would notice.
struct Probs {
  int N, V, Vp;
  DeviceBuffer<float> p;
  Probs(int n, int v, int vp) : N(n), V(v), Vp(vp), p(std::size_t(n) * vp) {
    for (std::size_t i = 0; i < p.host.extent(0); ++i) p.host(i) = 1e6f;
  }
  float& operator()(int r, int v) const { return p.host(std::size_t(r) * Vp + v); }
  void normalise_row(int r) const {
    float sum = 0;
    for (int v = 0; v < V; ++v) sum += (*this)(r, v);
    for (int v = 0; v < V; ++v) (*this)(r, v) /= sum;
  }
};

// The uniform that sample_labels draws for (key, sequence, t).
double draw(std::uint64_t key, std::uint64_t sequence, int t) {
  return sk::uniform01(sk::hash_key(key, sequence, std::uint64_t(t)));
}

// The serial inverse CDF in double; `margin` receives the distance from u to
// the nearest CDF value, below which the blocked sums may round either way.
int serial_label(const Probs& P, int r, double u, double& margin) {
  double cdf = 0;
  margin = u;
  int label = -1;
  for (int v = 0; v < P.V; ++v) {
    cdf += P(r, v);
    margin = std::min(margin, std::fabs(cdf - u));
    if (label < 0 && u < cdf) label = v;
  }
  return label < 0 ? P.V - 1 : label;
}

std::vector<int> sample(const Probs& P, int B, int T, const std::vector<std::uint64_t>& seqs, std::uint64_t key,
                        int row0 = 0) {
  Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels("labels", B, T);
  Kokkos::deep_copy(labels, -1);
  Kokkos::View<std::uint64_t*, MemSpace> sequences("sequences", B);
  auto hs = Kokkos::create_mirror_view(sequences);
  for (int b = 0; b < B; ++b) hs(b) = seqs[b];
  Kokkos::deep_copy(sequences, hs);
  const sk::ConstTensor2<float> rows(P.p.dev.data() + std::size_t(row0) * P.Vp, B * T, P.Vp);
  const sk::SampleSums sums("sample_sums", B * T, sk::sample_chunks(P.V));
  sk::sample_labels<float>(labels, rows, sequences, P.V, key, sums);
  auto h = Kokkos::create_mirror_view(labels);
  Kokkos::deep_copy(h, labels);
  return std::vector<int>(h.data(), h.data() + std::size_t(B) * T);
}

}  // namespace

TEST_CASE("sample_labels agrees with the serial inverse CDF", "[reductions][gnb]") {
  const int B = 3, T = 21, N = B * T;
  const std::vector<std::uint64_t> seqs = {5, 900, 77};
  const std::uint64_t key = sk::hash_key(2024, 3);
  std::mt19937 rng(13);
  for (const int V : {1, 7, 50257}) {
    for (const char* kind : {"random", "peaked", "sparse"}) {
      INFO("V = " << V << ", " << kind << " rows");
      Probs P(N, V, V + 47);
      std::uniform_real_distribution<float> unif(0.f, 1.f);
      for (int r = 0; r < N; ++r) {
        for (int v = 0; v < V; ++v) P(r, v) = unif(rng);
        if (std::string(kind) == "peaked") {  // most mass on one entry, a softmax's typical shape
          const int top = int(rng() % V);
          for (int v = 0; v < V; ++v) P(r, v) *= 1e-6f;
          P(r, top) = 1;
        } else if (std::string(kind) == "sparse") {  // zeros, whole zero chunks, zero tail
          for (int v = 0; v < V; ++v)
            if (v % 3 == 1 || (v / sk::kSampleChunk) % 4 == 2 || v >= V - V / 5) P(r, v) = 0;
          if (P(r, 0) == 0) P(r, 0) = 1;
        }
        P.normalise_row(r);
      }
      P.p.upload();
      const auto labels = sample(P, B, T, seqs, key);
      CHECK(labels == sample(P, B, T, seqs, key));  // a second call: the same labels
      int compared = 0, differ = 0;
      for (int r = 0; r < N; ++r) {
        const double u = draw(key, seqs[r / T], r % T);
        double margin = 0;
        const int want = serial_label(P, r, u, margin);
        REQUIRE(labels[r] >= 0);
        REQUIRE(labels[r] < V);
        CHECK(P(r, labels[r]) > 0);
        if (margin < 1e-9) continue;  // within rounding of a CDF boundary: either label is right
        ++compared;
        if (labels[r] != want) {
          ++differ;
          UNSCOPED_INFO("row " << r << ": u " << u << ", label " << labels[r] << ", serial " << want);
        }
      }
      CHECK(differ == 0);
      CHECK(compared >= N - 2);  // the cases are unambiguous, so the check has teeth
    }
  }
}

TEST_CASE("sample_labels does not depend on micro-batching and keeps to entries with mass", "[reductions][gnb]") {
  const int V = 50257, T = 9;
  std::mt19937 rng(14);
  Probs P(4 * T, V, V);
  std::uniform_real_distribution<float> unif(0.f, 1.f);
  for (int r = 0; r < 4 * T; ++r) {
    for (int v = 0; v < V; ++v) P(r, v) = unif(rng);
    P.normalise_row(r);
  }
  P.p.upload();
  const std::uint64_t key = 99;
  const auto whole = sample(P, 4, T, {10, 11, 12, 13}, key);
  auto first = sample(P, 2, T, {10, 11}, key, 0);
  const auto second = sample(P, 2, T, {12, 13}, key, 2 * T);
  first.insert(first.end(), second.begin(), second.end());
  CHECK(whole == first);
  // Another key draws other labels.
  CHECK(sample(P, 4, T, {10, 11, 12, 13}, key + 1) != whole);

  // Rows whose mass falls short of u (rounding, exaggerated here): the label
  // is the last entry with mass, not a zero-probability entry.
  Probs Q(T, V, V);
  for (int r = 0; r < T; ++r)
    for (int v = 0; v < V; ++v) Q(r, v) = v < 1000 ? 1e-6f : 0.f;  // total 1e-3
  Q.p.upload();
  for (int label : sample(Q, 1, T, {3}, key)) CHECK(label == 999);
}

TEST_CASE("sample_labels refuses a workspace smaller than rows x vocabulary chunks", "[reductions][gnb]") {
  const int V = 50257, N = 4;
  Probs P(N, V, V);
  P.p.upload();
  Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels("labels", 1, N);
  Kokkos::View<std::uint64_t*, MemSpace> sequences("sequences", 1);
  const sk::ConstTensor2<float> rows(P.p.dev.data(), N, V);
  CHECK(sk::sample_chunks(V) == 197);
  CHECK(sk::sample_chunks(sk::kSampleChunk) == 1);
  CHECK_THROWS_WITH(sk::sample_labels<float>(labels, rows, sequences, V, 1, sk::SampleSums("s", N, 196)),
                    Catch::Contains("needs 4 x 197"));
  CHECK_THROWS_AS(sk::sample_labels<float>(labels, rows, sequences, V, 1, sk::SampleSums("s", N - 1, 197)),
                  std::invalid_argument);
}

namespace {

// blocked_sum of f over x, read back to the host.
template <class F>
double blocked_total(sk::ConstTensor1<float> x, F f) {
  const sk::View1<double> partials("partials", sk::sum_blocks(x.extent(0)));
  const Kokkos::View<double, MemSpace> total("total");
  sk::blocked_sum<float>("blocked_total", x, f, partials, total);
  double host = 0;
  Kokkos::deep_copy(host, total);
  return host;
}

}  // namespace

TEST_CASE("blocked_sum of squares and magnitudes matches double host sums at block edges", "[reductions]") {
  std::mt19937 rng(31);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  for (const int n : {0, 1, 17, sk::kSumBlock - 1, sk::kSumBlock, 3 * sk::kSumBlock + 5}) {
    INFO("n = " << n);
    const DeviceBuffer<float> x{std::size_t(n)};
    double squares = 0, abs = 0;
    for (int i = 0; i < n; ++i) {
      x.host(i) = dist(rng);
      squares += double(x.host(i)) * x.host(i);
      abs += std::fabs(double(x.host(i)));
    }
    x.upload();
    const sk::ConstTensor1<float> xs(x.dev.data(), n);
    const double got_squares = blocked_total(xs, sk::Square()), got_abs = blocked_total(xs, sk::Magnitude());
    // Float lanes over at most kSumBlock / kLanes terms each: ~1e-5 relative at worst.
    CHECK(std::fabs(got_squares - squares) <= 1e-5 * squares);
    CHECK(std::fabs(got_abs - abs) <= 1e-5 * abs);
    CHECK(blocked_total(xs, sk::Square()) == got_squares);  // the same bits again
    if (n == 0) CHECK(got_squares == 0.0);
  }
  // A buffer of block sums too small for the input is refused.
  const DeviceBuffer<float> x{std::size_t(sk::kSumBlock + 1)};
  const Kokkos::View<double, MemSpace> total("total");
  CHECK_THROWS_WITH(sk::blocked_sum<float>("sum", sk::ConstTensor1<float>(x.dev.data(), x.dev.extent(0)), sk::Square(),
                                           sk::View1<double>("p", 1), total),
                    Catch::Contains("1 block sums, needs 2"));
}
