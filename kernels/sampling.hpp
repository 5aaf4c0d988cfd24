// Sampling labels from the model's own softmax (Sophia-G's Gauss-Newton-Bartlett
// estimator backpropagates the loss against such labels).
#pragma once
#include <stdexcept>
#include <string>

#include "random.hpp"
#include "views.hpp"

namespace sk {

// Vocabulary entries per chunk of the blocked scan in sample_labels. Fixed,
// so that the order of the additions, and so the labels, do not depend on
// the backend or its thread counts.
constexpr int kSampleChunk = 256;

inline int sample_chunks(int V) { return (V + kSampleChunk - 1) / kSampleChunk; }

// sample_labels' workspace: each row's chunk sums, [rows, sample_chunks(V)]
// at least. It lives in global memory rather than team scratch, so that what
// a kernel needs never depends on the vocabulary and the team size.
using SampleSums = Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>;

// labels[b, t] ~ probs[b*T+t - n0, :V] for the rows b*T+t = n0 .. n0+n of the
// batch that probs holds, by inverse CDF from a uniform keyed on
// (key, sequences[b], t): `key` identifies the draw (seed and step) and
// sequences[b] is row b's global sequence number, so the labels do not depend
// on how sequences are split into micro-batches, ranks or chunks of rows.
// probs [n, Vp] from crossentropy_forward; labels [B, T]; sequences [B];
// sums: the workspace above.
//
// The label is the first v with cdf(v) > u, found by a blocked scan in double:
// (1) a thread per (row, chunk) adds the chunk's kSampleChunk entries in
// order; (2) a thread per row adds the chunk sums in order until they pass u,
// then scans that one chunk. Every addition has a fixed order, so every
// backend draws the same labels.
template <class T>
void sample_labels(Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels, ConstTensor2<T> probs,
                   Kokkos::View<const std::uint64_t*, MemSpace> sequences, int V, std::uint64_t key,
                   SampleSums sums, int n0 = 0, const ExecSpace& space = ExecSpace()) {
  const int Tn = labels.extent(1), N = probs.extent(0), n_chunks = sample_chunks(V);
  if (int(sums.extent(0)) < N || int(sums.extent(1)) < n_chunks)
    throw std::invalid_argument("sample_labels: workspace of " + std::to_string(sums.extent(0)) + " x " +
                                std::to_string(sums.extent(1)) + " chunk sums, needs " + std::to_string(N) + " x " +
                                std::to_string(n_chunks));
  Kokkos::parallel_for("sample_labels_chunk_sums", Range2D(space, {0, 0}, {N, n_chunks}),
                       KOKKOS_LAMBDA(const int r, const int k) {
                         const int lo = k * kSampleChunk, hi = V - lo < kSampleChunk ? V : lo + kSampleChunk;
                         double s = 0;
                         for (int v = lo; v < hi; ++v) s += double(probs(r, v));
                         sums(r, k) = s;
                       });
  Kokkos::parallel_for("sample_labels", RangePolicy(space, 0, N), KOKKOS_LAMBDA(const int r) {
    const int b = (n0 + r) / Tn, t = (n0 + r) % Tn;
    const double u = uniform01(hash_key(key, sequences(b), std::uint64_t(t)));
    double base = 0, last_base = 0;  // mass before the current chunk / before the last chunk with mass
    int chunk = -1, last = -1;
    for (int k = 0; k < n_chunks; ++k) {
      const double s = sums(r, k);
      if (s > 0) {
        last = k;
        last_base = base;
      }
      if (u < base + s) {
        chunk = k;
        break;
      }
      base += s;
    }
    if (last < 0) {  // no mass at all: the last entry, as the serial loop would give
      labels(b, t) = V - 1;
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
    int label = lo;
    double before = 0;
    for (int v = lo; v < hi && base + before <= u; ++v) {
      const double p = double(probs(r, v));
      if (p > 0) label = v;
      before += p;
    }
    labels(b, t) = label;
  });
}

}  // namespace sk
