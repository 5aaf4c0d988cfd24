// Sampling labels from the model's own softmax (Sophia-G's Gauss-Newton-Bartlett
// estimator backpropagates the loss against such labels).
#pragma once
#include "random.hpp"
#include "reduction.hpp"
#include "views.hpp"

namespace sk {

// Vocabulary entries per chunk of the blocked scan in sample_labels. Fixed,
// so that the order of the additions, and so the labels, do not depend on
// the team size.
constexpr int kSampleChunk = 256;

// labels[b, t] ~ probs[b*T+t - n0, :V] for the rows b*T+t = n0 .. n0+n of the
// batch that probs holds, by inverse CDF from a uniform keyed on
// (key, sequences[b], t): `key` identifies the draw (seed and step) and
// sequences[b] is row b's global sequence number, so the labels do not depend
// on how sequences are split into micro-batches, ranks or chunks of rows.
// probs [n, Vp] from crossentropy_forward; labels [B, T]; sequences [B].
//
// The label is the first v with cdf(v) > u, found by a blocked scan in double:
// a team per row sums chunks of kSampleChunk entries (thread per chunk, vector
// lanes over the chunk's consecutive entries), adds the chunk sums in order
// until they pass u, then scans that one chunk. Chunks are summed in rounds
// (all of them at once on GPUs, one at a time on CPUs, which stop at u's chunk
// like the serial loop); the rounds change only the work, not the sums.
template <class T>
void sample_labels(Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels, ConstTensor2<T> probs,
                   Kokkos::View<const std::uint64_t*, MemSpace> sequences, int V, std::uint64_t key,
                   int n0 = 0) {
  using Scratch = Kokkos::View<double*, ExecSpace::scratch_memory_space, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  const int Tn = labels.extent(1), N = probs.extent(0);
  const int n_chunks = (V + kSampleChunk - 1) / kSampleChunk;
  const int lanes = vector_lanes();
  const int round = lanes == 1 ? 1 : n_chunks;  // chunks summed before u is looked for
  // Team scratch: the round's chunk sums, then the chosen chunk's exclusive prefix.
  const std::size_t scratch_bytes = Scratch::shmem_size(round) + Scratch::shmem_size(kSampleChunk);
  const auto policy = TeamPolicy(N, Kokkos::AUTO, lanes).set_scratch_size(0, Kokkos::PerTeam(scratch_bytes));
  Kokkos::parallel_for("sample_labels", policy, KOKKOS_LAMBDA(const Member& team) {
    const int r = team.league_rank(), b = (n0 + r) / Tn, t = (n0 + r) % Tn;
    const Scratch sums(team.team_scratch(0), round), prefix(team.team_scratch(0), kSampleChunk);
    const double u = uniform01(hash_key(key, sequences(b), std::uint64_t(t)));
    // Every thread runs the same serial additions over the same sums, so all
    // agree on the chunk without a broadcast.
    double base = 0, last_base = 0;  // mass before the current chunk / before the last chunk with mass
    int chunk = -1, last = -1;
    for (int k0 = 0; k0 < n_chunks && chunk < 0; k0 += round) {
      const int n = n_chunks - k0 < round ? n_chunks - k0 : round;
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, n), [&](const int j) {
        const int lo = (k0 + j) * kSampleChunk, hi = V - lo < kSampleChunk ? V : lo + kSampleChunk;
        double s = 0;
        Kokkos::parallel_reduce(Kokkos::ThreadVectorRange(team, lo, hi), [&](const int v, double& acc) {
          acc += double(probs(r, v));
        }, s);
        Kokkos::single(Kokkos::PerThread(team), [&]() { sums(j) = s; });
      });
      team.team_barrier();
      for (int j = 0; j < n; ++j) {
        if (sums(j) > 0) {
          last = k0 + j;
          last_base = base;
        }
        if (u < base + sums(j)) {
          chunk = k0 + j;
          break;
        }
        base += sums(j);
      }
      team.team_barrier();  // before the next round overwrites sums
    }
    if (last < 0) {  // no mass at all: the last entry, as the serial loop would give
      Kokkos::single(Kokkos::PerTeam(team), [&]() { labels(b, t) = V - 1; });
      return;
    }
    if (chunk < 0) {  // rounding left the total at or below u: the last entry with mass
      chunk = last;
      base = last_base;
    }
    // In the chunk: the last v with probability > 0 and base + (mass before v)
    // <= u. That is the first v with cdf(v) > u, and the last entry with mass
    // when rounding leaves the chunk's own scan below u.
    const int lo = chunk * kSampleChunk, hi = V - lo < kSampleChunk ? V : lo + kSampleChunk;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, 1), [&](const int) {
      Kokkos::parallel_scan(Kokkos::ThreadVectorRange(team, lo, hi), [&](const int v, double& before, const bool final) {
        if (final) prefix(v - lo) = before;
        before += double(probs(r, v));
      });
      int label = lo;
      Kokkos::parallel_reduce(Kokkos::ThreadVectorRange(team, lo, hi), [&](const int v, int& m) {
        if (probs(r, v) > 0 && base + prefix(v - lo) <= u && v > m) m = v;
      }, Kokkos::Max<int>(label));
      Kokkos::single(Kokkos::PerThread(team), [&]() { labels(b, t) = label; });
    });
  });
}

}  // namespace sk
