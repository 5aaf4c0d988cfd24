// Text generation from a model: sampling settings, the draw of one token from
// logits, and the generation loop (with the key/value cache of
// src/model/decoder.hpp, or by a full forward over the prefix at every token).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "gpt2.hpp"

namespace sk {

struct SamplingSettings {
  double temperature = 1.0;  // > 0: logits are divided by it
  int top_k = 0;             // keep the k most likely tokens; 0: all (1: greedy)
  double top_p = 1.0;        // in (0, 1]: then the fewest most likely tokens holding this mass
  std::uint64_t seed = 0;
  // Throws sk::Error naming a setting out of range.
  void validate() const;
};

// The token drawn from softmax(logits[:V] / temperature), restricted by
// top_k and then top_p and renormalised, by inverse CDF at u in [0, 1).
// Ties in probability go to the lower token id. In double on the host.
int sample_token(const float* logits, int V, const SamplingSettings& settings, double u);

struct GenerationRequest {
  std::vector<int> prompt;  // at least one token
  int new_tokens = 0;       // per sample
  int count = 1;            // samples, generated side by side
  int stop_token = -1;      // a sample ends at this token (not returned); -1: never
  bool kv_cache = true;     // false: a full forward over the context at every token
  // Past block_size tokens the context is cropped, as nanoGPT does. Position
  // embeddings are absolute, so a full cache cannot shift: it is refilled by
  // a prefill of the last `window` tokens. A token is thus drawn from the last
  // `window` to block_size tokens, restarting every block_size - window + 1
  // tokens; the full forwards without the cache crop the same way. 0 means
  // block_size: always the last block_size tokens, at a forward of as many per token.
  int window = 0;
  // Called with (sample, token) for each new token as it is drawn (not the
  // stop token), so that callers can print while the rest is computed.
  std::function<void(int, int)> on_token;
};

// The first of the n tokens fed so far that the next token is drawn after,
// for the model's block_size and a request's window (see GenerationRequest).
int context_start(int n, int block_size, int window);

// The new tokens of each sample. With the cache, the prompts go through one
// batched forward (Decoder::prefill), then a token at a time. Sample i's j-th token is drawn at
// u = uniform01(hash_key(seed, i, j)): the draws do not depend on how many
// samples are generated beside it or on the backend's threads (the logits
// of S rows at once may differ from one row's in the last bits).
// Seconds from the start to the first draw (the prompts' forward: the
// prefill), and from there to the end (the tokens after it, one at a time).
struct GenerationTimes {
  double prefill = 0, decode = 0;
};

std::vector<std::vector<int>> generate(GPT2<float>& model, const GenerationRequest& request,
                                       const SamplingSettings& settings, GenerationTimes* times = nullptr);

}  // namespace sk
