// The chunked LM head (kernels/lm_head.hpp) against a host computation of the
// whole [N, V] logits: losses, ln_f's gradient and wte's gradient, for one
// chunk, uneven chunks and chunks of one row; the backward against finite
// differences; labels sampled chunk by chunk equal labels sampled whole.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_checks.hpp"
#include "lm_head.hpp"
#include "random.hpp"
#include "sampling.hpp"

using namespace sk_test;

namespace {

struct Head {
  int N, C, V, Vp;
  Buf x, wte, R;  // R: the weight of each row's loss (dloss)
  std::vector<int> ids;
  sk::TokenView targets;

  Head(int B, int T, int C_, int V_, std::mt19937& rng)
      : N(B * T), C(C_), V(V_), Vp((V_ + 7) / 8 * 8 + 8), x(N, C), wte(Vp, C), R(1, N), ids(N) {
    fill_normal(x, rng);
    fill_normal(wte, rng, 0, 0.5);
    for (int v = V; v < Vp; ++v)
      for (int c = 0; c < C; ++c) wte(v, c) = 0;  // padding rows stay zero, as in the model
    wte.upload();
    for (int r = 0; r < N; ++r) ids[r] = int(rng() % V);
    targets = make_tokens(B, T, ids);
    fill(R, 1.0 / N);
  }
  sk::RowTokens rows() const { return sk::row_tokens(targets, 0, N); }
};

struct HeadOut {
  std::vector<double> losses, dx, dwte;
};

// The fused head with `chunk` rows of scratch, against the targets; dwte
// starts from `dwte0` to show that it accumulates. per_chunk_labels: the
// overload that takes the labels chunk by chunk after the softmax (here the
// targets again), else the one that knows them before it. The kernels run on `space`.
HeadOut run_head(const Head& h, int chunk, double dwte0, bool per_chunk_labels,
                 const sk::ExecSpace& space = sk::ExecSpace()) {
  Buf losses(1, h.N), dx(h.N, h.C), dwte(h.Vp, h.C), logits(chunk, h.Vp);
  fill(dx, kGarbage);
  fill(dwte, dwte0);
  fill(logits, kGarbage);
  const auto targets = h.targets;
  if (per_chunk_labels)
    sk::lm_head_forward_backward<double>(losses.t1(), dx.t(), dwte.t(), logits.t(), h.x.t(), h.wte.t(), h.rows(),
                                         h.V, 1.0 / h.N, [targets](int n0, int n, sk::ConstTensor2<double>) {
                                           return sk::row_tokens(targets, n0, n);
                                         }, space);
  else
    sk::lm_head_forward_backward<double>(losses.t1(), dx.t(), dwte.t(), logits.t(), h.x.t(), h.wte.t(), h.rows(),
                                         h.V, 1.0 / h.N, space);
  space.fence();
  return {losses.values(), dx.values(), dwte.values()};
}

}  // namespace

TEST_CASE("chunked LM head matches the whole logits on the host, for every chunk size", "[kernels][lm_head]") {
  std::mt19937 rng(21);
  const Head h(2, 7, 6, 37, rng);
  // Host: logits, softmax, losses, dlogits = (p - onehot) / N, dx, dwte.
  std::vector<double> want_loss(h.N), want_dx(h.N * h.C, 0.0), want_dwte(h.Vp * h.C, 0.5);
  for (int r = 0; r < h.N; ++r) {
    std::vector<double> z(h.V);
    double m = -1e300, sum = 0;
    for (int v = 0; v < h.V; ++v) {
      z[v] = 0;
      for (int c = 0; c < h.C; ++c) z[v] += h.x(r, c) * h.wte(v, c);
      m = std::max(m, z[v]);
    }
    for (int v = 0; v < h.V; ++v) sum += std::exp(z[v] - m);
    want_loss[r] = m + std::log(sum) - z[h.ids[r]];
    for (int v = 0; v < h.V; ++v) {
      const double d = (std::exp(z[v] - m) / sum - (v == h.ids[r])) / h.N;
      for (int c = 0; c < h.C; ++c) {
        want_dx[r * h.C + c] += d * h.wte(v, c);
        want_dwte[v * h.C + c] += d * h.x(r, c);
      }
    }
  }
  for (const int chunk : {h.N, 5, 1})
    for (const bool per_chunk_labels : {false, true}) {
      INFO("chunk of " << chunk << " rows of " << h.N << (per_chunk_labels ? ", labels per chunk" : ", targets"));
      const HeadOut out = run_head(h, chunk, 0.5, per_chunk_labels);
      check_close("lm_head losses", out.losses, want_loss, kExactTol);
      check_close("lm_head dx", out.dx, want_dx, kExactTol);
      check_close("lm_head dwte (+= onto 0.5)", out.dwte, want_dwte, kExactTol);
      // Loss only: the same losses.
      Buf losses(1, h.N), logits(chunk, h.Vp);
      sk::lm_head_forward<double>(losses.t1(), logits.t(), h.x.t(), h.wte.t(), h.rows(), h.V);
      CHECK(losses.values() == out.losses);
    }
}

TEST_CASE("LM head on another execution space instance gives the same bits", "[kernels][lm_head]") {
  // Kokkos 4 partitions a space into instances of its own; 3.x has only the default one.
#if KOKKOS_VERSION >= 40000
  const sk::ExecSpace other = Kokkos::Experimental::partition_space(sk::ExecSpace(), 1)[0];
#else
  const sk::ExecSpace other;
#endif
  std::mt19937 rng(23);
  const Head h(2, 5, 6, 29, rng);
  for (const bool per_chunk_labels : {false, true}) {
    const HeadOut want = run_head(h, 4, 0.5, per_chunk_labels), got = run_head(h, 4, 0.5, per_chunk_labels, other);
    CHECK(got.losses == want.losses);
    CHECK(got.dx == want.dx);
    CHECK(got.dwte == want.dwte);
  }
}

TEST_CASE("chunked LM head backward matches finite differences", "[kernels][lm_head]") {
  std::mt19937 rng(22);
  const Head h(2, 3, 4, 19, rng);
  const HeadOut out = run_head(h, 4, 0.0, false);  // chunks of 4 and 2 rows
  const auto loss = [&] {
    Buf losses(1, h.N), logits(4, h.Vp);
    sk::lm_head_forward<double>(losses.t1(), logits.t(), h.x.t(), h.wte.t(), h.rows(), h.V);
    return sum_product(losses, h.R);
  };
  check_fd("lm_head dx", h.x, out.dx, loss);
  // wte's real rows only: the padding rows are not parameters of the loss.
  std::vector<int> real(h.V * h.C);
  for (int i = 0; i < h.V * h.C; ++i) real[i] = i;
  check_fd_entries("lm_head dwte", h.wte, out.dwte, real, loss);
}

TEST_CASE("labels sampled chunk by chunk in the LM head equal labels sampled from the whole softmax",
          "[kernels][lm_head][gnb]") {
  std::mt19937 rng(23);
  const int B = 3, T = 4;
  const Head h(B, T, 5, 41, rng);
  Kokkos::View<std::uint64_t*, sk::MemSpace> sequences("sequences", B);
  Kokkos::parallel_for("iota", sk::RangePolicy(0, B), KOKKOS_LAMBDA(const int b) { sequences(b) = 100 + b; });
  const std::uint64_t key = sk::hash_key(7, 8);
  auto sample_with_chunks = [&](int chunk) {
    Kokkos::View<int**, Kokkos::LayoutRight, sk::MemSpace> labels("labels", B, T);
    Buf losses(1, h.N), dx(h.N, h.C), dwte(h.Vp, h.C), logits(chunk, h.Vp);
    const sk::SampleSums sums("sample_sums", chunk, sk::sample_chunks(h.V));
    sk::lm_head_forward_backward<double>(
        losses.t1(), dx.t(), dwte.t(), logits.t(), h.x.t(), h.wte.t(), h.rows(), h.V, 1.0 / h.N,
        [&](int n0, int n, sk::ConstTensor2<double> probs) {
          sk::sample_labels<double>(labels, probs, sequences, h.V, key, sums, n0);
          return sk::RowTokens(labels.data() + n0, n);
        });
    auto host = Kokkos::create_mirror_view(labels);
    Kokkos::deep_copy(host, labels);
    return std::vector<int>(host.data(), host.data() + h.N);
  };
  const std::vector<int> whole = sample_with_chunks(h.N);
  CHECK(sample_with_chunks(5) == whole);
  CHECK(sample_with_chunks(1) == whole);
  int differ_from_targets = 0;
  for (int r = 0; r < h.N; ++r) differ_from_targets += whole[r] != h.ids[r];
  CHECK(differ_from_targets > 0);  // sampled, not the targets passed through
}
