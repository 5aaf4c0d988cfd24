#include "flops.hpp"

namespace sk {

std::vector<LinearShape> linear_layers(const GPT2Config& c, int B, int T) {
  const long N = long(B) * T, C = c.n_embd, L = c.n_layer;
  return {
      {N, C, 3 * C, int(L)},         // attn.c_attn
      {N, C, C, int(L)},             // attn.c_proj
      {N, C, 4 * C, int(L)},         // mlp.c_fc
      {N, 4 * C, C, int(L)},         // mlp.c_proj
      {N, C, c.padded_vocab(), 1},   // LM head (tied wte)
  };
}

double linear_flops(const GPT2Config& c, int B, int T) {
  double f = 0;
  for (const auto& s : linear_layers(c, B, T)) f += 3.0 * 2.0 * s.rows * s.in * s.out * s.count;
  return f;
}

double attention_flops(const GPT2Config& c, int B, int T) {
  // Per head and query t: (t+1)*HS multiply-adds for q.k and again for att.v.
  const double pairs = double(T) * (T + 1) / 2;
  const double forward = 2.0 * 2.0 * B * c.n_head * pairs * c.head_size();
  return 3.0 * forward * c.n_layer;
}

}  // namespace sk
