// Floating-point work of one GPT-2 forward+backward, for benchmarks.
#pragma once
#include <vector>

#include "config.hpp"

namespace sk {

// A linear layer applied to `rows` positions: out[rows, out] = in[rows, in] . W^T.
struct LinearShape {
  long rows, in, out;
  int count;  // how many such layers one forward pass has
};

// Every linear layer of the model (the LM head included, over the padded
// vocabulary the matmul really computes).
std::vector<LinearShape> linear_layers(const GPT2Config& c, int B, int T);

// Forward+backward FLOPs of the linear layers: each costs 2*rows*in*out in the
// forward and twice that in the backward (input and weight gradients).
double linear_flops(const GPT2Config& c, int B, int T);

// Forward+backward FLOPs of causal attention's two products (q.k and att.v),
// counting only the t2 <= t half that is computed.
double attention_flops(const GPT2Config& c, int B, int T);

}  // namespace sk
