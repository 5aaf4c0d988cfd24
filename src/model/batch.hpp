// Batches of B rows of T tokens as device views of inputs and targets, and
// the buffer that holds a step's micro-batches on the device.
#pragma once
#include <cstdint>
#include <vector>

#include "views.hpp"

namespace sk {

struct Batch {
  Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> inputs, targets;  // [B, T]
  // inputs and targets are unmanaged views into this allocation (shared with
  // the other rows of a step, see StepBatches); it lives as long as they do.
  Kokkos::View<const std::uint64_t*, MemSpace> storage;
};

// A batch and the global sequence number of each of its rows.
struct SequenceBatch {
  Batch batch;
  Kokkos::View<std::uint64_t*, MemSpace> sequences;  // [B]
  // [B, T] room for labels sampled from the model (the Hessian refresh),
  // shared by the micro-batches of a step; empty: the refresh allocates.
  Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> labels;
};

// The micro-batches of a step in one device allocation, made once and reused
// for every step: rows are written to a host copy and reach the device in one
// transfer, with nothing allocated per step. Where the device memory is
// host-accessible (Serial, OpenMP) the host copy is the device memory itself
// and there is no transfer at all.
class StepBatches {
 public:
  StepBatches(int micro_batches, int B, int T);
  int micro_batches() const { return M_; }
  int rows() const { return B_; }
  int seq_len() const { return T_; }

  // Row b of micro-batch m: inputs window[0, T), targets window[1, T+1).
  void set_row(int m, int b, const std::uint16_t* window, std::uint64_t sequence);
  // Copies the rows to the device; the batches stay valid (and keep their
  // addresses) until the next set_row overwrites them.
  const std::vector<SequenceBatch>& upload();
  const std::vector<SequenceBatch>& batches() const { return batches_; }

 private:
  int M_, B_, T_;
  // [M*B sequence numbers | M micro-batches of B*T inputs, B*T targets | B*T labels]
  Kokkos::View<std::uint64_t*, MemSpace> storage_;
  Kokkos::View<std::uint64_t*, MemSpace>::HostMirror host_;
  std::size_t upload_words_ = 0;  // the part of storage_ that upload() copies
  bool writing_ = false;          // set_row has fenced since the last upload
  std::vector<SequenceBatch> batches_;
};

// Row b holds tokens[b*stride, b*stride + T) and its targets are the same
// window shifted by one. stride T takes consecutive rows of one text (B*T+1
// tokens); stride T+1 takes B separate windows of T+1 tokens. One allocation
// and one host-to-device copy; sequence numbers are the row numbers.
Batch make_batch(const std::vector<std::uint16_t>& tokens, std::size_t stride, int B, int T);

}  // namespace sk
