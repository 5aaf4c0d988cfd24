// The machine's practical peak for a model: the rate of the gemm calls that
// one forward+backward makes, with the same shapes and transposes, timed on
// buffers of their own. `bench` compares whole steps with it; training
// reports model FLOP utilisation against it (or against a peak the deck gives).
#pragma once
#include <string>
#include <vector>

#include "choices.hpp"
#include "config.hpp"
#include "flops.hpp"

namespace sk {

// Sets the library every float gemm runs in from here on (auto: the build's
// default, kblas::default_gemm_library). False, changing nothing, for one this build lacks.
bool use_gemm_library(GemmChoice choice);
// Sets the precision of every gemm from here on, after the library is
// chosen: "" on success, else what this build, library or CPU lacks for it
// (and nothing changes). Never a quiet fp32 in place of bf16.
std::string use_gemm_precision(Precision precision);
// The library in use, by its GemmChoice name ("blas", "onednn").
const char* gemm_library_name();
// The library and precision in use, e.g. "onednn, bf16".
std::string gemm_description();

// Seconds of the three gemms of every linear layer (forward NT, input
// gradient NN, weight gradient TN), as often as one forward+backward runs them.
double time_step_gemms(const std::vector<LinearShape>& shapes);

// FLOP/s of those gemms for a batch of B x T: one untimed round, then the
// best of `rounds` timed ones (the least disturbed by other processes).
double measured_gemm_rate(const GPT2Config& config, int B, int T, int rounds = 2);

// FLOP/s of n x n x n gemms, timed alike: a rate that a small model's own
// shapes (bound by the cost of each call) fall far below, so that MFU against
// the better of the two cannot pass 100%.
double square_gemm_rate(long n = 1024, int rounds = 2);

}  // namespace sk
