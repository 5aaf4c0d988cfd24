#include "generate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "decoder.hpp"
#include "error.hpp"
#include "random.hpp"

namespace sk {

void SamplingSettings::validate() const {
  if (!(temperature > 0) || !std::isfinite(temperature))
    throw Error("temperature " + std::to_string(temperature) + " is not a positive number (use --top-k 1 for greedy)");
  if (top_k < 0) throw Error("top-k " + std::to_string(top_k) + " is negative (0 keeps every token)");
  if (!(top_p > 0 && top_p <= 1)) throw Error("top-p " + std::to_string(top_p) + " is outside (0, 1]");
}

int sample_token(const float* logits, int V, const SamplingSettings& settings, double u) {
  struct Candidate {
    double p;
    int id;
  };
  // More likely first; ties to the lower id.
  const auto before = [](const Candidate& a, const Candidate& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); };
  const double max = *std::max_element(logits, logits + V);
  std::vector<Candidate> c(V);
  for (int v = 0; v < V; ++v) c[v] = {std::exp((double(logits[v]) - max) / settings.temperature), v};
  if (settings.top_k > 0 && settings.top_k < V) {
    std::nth_element(c.begin(), c.begin() + settings.top_k - 1, c.end(), before);
    c.resize(settings.top_k);
  }
  if (settings.top_p < 1) {
    std::sort(c.begin(), c.end(), before);
    double total = 0, kept = 0;
    for (const Candidate& x : c) total += x.p;
    std::size_t n = 0;
    while (n < c.size() && kept < settings.top_p * total) kept += c[n++].p;
    c.resize(std::max<std::size_t>(n, 1));
  }
  std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  double total = 0;
  for (const Candidate& x : c) total += x.p;
  const double target = u * total;
  double cdf = 0;
  for (const Candidate& x : c) {
    cdf += x.p;
    if (cdf > target) return x.id;
  }
  return c.back().id;  // rounding left the sum at or below the target
}

namespace {

// Draws each unfinished sample's next token from logits [S, Vp] (host copy)
// and appends it; returns whether any sample is still going.
bool draw(std::vector<std::vector<int>>& out, std::vector<bool>& done, const float* logits, int Vp, int V,
          const GenerationRequest& request, const SamplingSettings& settings) {
  bool going = false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (done[i]) continue;
    const double u = uniform01(hash_key(settings.seed, i, out[i].size()));
    const int token = sample_token(logits + i * std::size_t(Vp), V, settings, u);
    done[i] = token == request.stop_token || int(out[i].size()) + 1 == request.new_tokens;
    if (token == request.stop_token) continue;
    out[i].push_back(token);
    if (request.on_token) request.on_token(int(i), token);
    going = going || !done[i];
  }
  return going;
}

// The first unfinished sample whose logits [S, Vp] hold NaN or inf; -1 if none.
int nonfinite_row(const float* logits, int Vp, int V, const std::vector<bool>& done) {
  for (std::size_t i = 0; i < done.size(); ++i) {
    if (done[i]) continue;
    const float* row = logits + i * std::size_t(Vp);
    for (int v = 0; v < V; ++v)
      if (!std::isfinite(row[v])) return int(i);
  }
  return -1;
}

// Refuses logits that are not finite (sampling from them would repeat one id
// forever), naming where NaN or inf begin: a full forward over the context
// of the n tokens fed (`prefix` [S, at most n]) leaves the activations to inspect.
[[noreturn]] void refuse_nonfinite(GPT2<float>& model, TokenView prefix, int n, int i) {
  View2<float> logits("logits", prefix.extent(0), model.config().padded_vocab());
  model.next_logits(prefix, logits);
  const std::string origin = model.nonfinite_origin();
  throw Error("sample " + std::to_string(i) + ": the logits after " + std::to_string(n) +
              " tokens are not finite (NaN or inf first in " + (origin.empty() ? "the logits" : origin) +
              "); the weights overflow float32");
}

}  // namespace

int context_start(int n, int block_size, int window) {
  if (n <= block_size) return 0;
  // Refilled at n = block_size + 1 and every block_size - window + 1 tokens after.
  return n - window - (n - block_size - 1) % (block_size - window + 1);
}

std::vector<std::vector<int>> generate(GPT2<float>& model, const GenerationRequest& request,
                                       const SamplingSettings& settings, GenerationTimes* times) {
  settings.validate();
  const int P = int(request.prompt.size()), S = request.count, V = model.config().vocab_size;
  const int Vp = model.config().padded_vocab();
  const int positions = P + request.new_tokens - 1;  // the last new token is never fed back
  const int B = model.config().block_size, W = request.window ? request.window : B;
  if (P < 1 || request.new_tokens < 1 || S < 1 || W < 1 || W > B)
    throw std::invalid_argument("generate: a prompt of " + std::to_string(P) + " tokens, " +
                                std::to_string(request.new_tokens) + " new tokens, window " + std::to_string(W));
  std::vector<std::vector<int>> out(S);
  std::vector<bool> done(S, false);
  // Every sequence as fed so far: the prompt, then its new tokens. A sample
  // that has ended is fed its last token again and what it draws is dropped.
  auto fed = [&](int i, int pos) {
    if (pos < P) return request.prompt[pos];
    const std::vector<int>& o = out[i];
    if (pos - P < int(o.size())) return o[pos - P];
    return o.empty() ? request.prompt.back() : o.back();
  };
  // The context after n fed positions: what each sample was fed from its start to n - 1, [S, <= B].
  auto context = [&](int n) {
    const int first = context_start(n, B, W);
    Kokkos::View<int**, Kokkos::LayoutRight, MemSpace> view("context", S, n - first);
    auto host = Kokkos::create_mirror_view(view);
    for (int i = 0; i < S; ++i)
      for (int pos = first; pos < n; ++pos) host(i, pos - first) = fed(i, pos);
    Kokkos::deep_copy(view, host);
    return TokenView(view);
  };
  // Draws from the logits [S, Vp] after n fed positions, on the host, once
  // they are checked; returns whether any sample is still going.
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> logits_host("logits_host", S, Vp);
  auto draw_after = [&](ConstTensor2<float> logits, int n) {
    Kokkos::deep_copy(logits_host, logits);
    const int bad = nonfinite_row(logits_host.data(), Vp, V, done);
    if (bad >= 0) refuse_nonfinite(model, context(n), n, bad);
    return draw(out, done, logits_host.data(), Vp, V, request, settings);
  };
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&start] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  bool going = true;
  if (request.kv_cache) {
    Decoder<float> decoder(model, S, std::min(positions, B));
    going = draw_after(decoder.prefill(context(P)), P);
    if (times) times->prefill = seconds();
    Kokkos::View<int*, MemSpace> tokens("step_tokens", S);
    auto tokens_host = Kokkos::create_mirror_view(tokens);
    for (int n = P + 1; going && n <= positions; ++n) {
      const int first = context_start(n, B, W);
      if (first != context_start(n - 1, B, W)) {  // the cache is full: refilled with the last W tokens
        going = draw_after(decoder.prefill(context(n)), n);
        continue;
      }
      for (int i = 0; i < S; ++i) tokens_host(i) = fed(i, n - 1);
      Kokkos::deep_copy(tokens, tokens_host);
      going = draw_after(decoder.step(tokens, n - 1 - first), n);
    }
  } else {
    View2<float> full("next_logits", S, Vp);
    for (int n = P; going && n <= positions; ++n) {
      model.next_logits(context(n), full);
      going = draw_after(full, n);
      if (times && n == P) times->prefill = seconds();
    }
  }
  if (times) times->decode = seconds() - times->prefill;
  return out;
}

}  // namespace sk
