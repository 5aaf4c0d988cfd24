// Generation with the key/value cache (src/model/decoder.hpp) against a full
// forward over each prefix (GPT2::next_logits).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "decoder.hpp"
#include "error.hpp"
#include "generate.hpp"

using namespace sk;

namespace {

using Tokens = Kokkos::View<int**, Kokkos::LayoutRight, MemSpace>;

// A small model whose weights are GPT-2's initialisation times 20, so that
// attention and the next-token distribution are far from uniform.
template <class T>
void init_sharp(GPT2<T>& model) {
  model.init_random(5);
  auto host = Kokkos::create_mirror_view(model.params);
  Kokkos::deep_copy(host, model.params);
  for (std::size_t i = 0; i < host.extent(0); ++i) host(i) *= T(20);
  Kokkos::deep_copy(model.params, host);
}

Tokens random_tokens(int S, int n, int V, unsigned seed) {
  Tokens tokens("tokens", S, n);
  auto host = Kokkos::create_mirror_view(tokens);
  std::mt19937 rng(seed);
  for (int s = 0; s < S; ++s)
    for (int t = 0; t < n; ++t) host(s, t) = int(rng() % V);
  Kokkos::deep_copy(tokens, host);
  return tokens;
}

// Position t of every sequence, contiguous as Decoder::step takes it.
Kokkos::View<int*, MemSpace> column(Tokens tokens, int t) {
  Kokkos::View<int*, MemSpace> out("column", tokens.extent(0));
  Kokkos::deep_copy(out, Kokkos::subview(tokens, Kokkos::ALL, t));
  return out;
}

// The largest |cached - full| over the first V logits of every sequence,
// relative to the largest |full|.
template <class T>
double relative_difference(ConstTensor2<T> cached, View2<T> full, int V) {
  auto a = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), cached);
  auto b = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), full);
  double diff = 0, scale = 0;
  for (std::size_t s = 0; s < b.extent(0); ++s)
    for (int v = 0; v < V; ++v) {
      diff = std::max(diff, std::fabs(double(a(s, v)) - double(b(s, v))));
      scale = std::max(scale, std::fabs(double(b(s, v))));
    }
  return diff / scale;
}

// Feeds `tokens` [S, n] one position at a time and compares each step's
// logits with those of a full forward over the prefix; returns the worst.
template <class T>
double worst_difference(GPT2<T>& model, Decoder<T>& decoder, Tokens tokens, int from = 0) {
  const int S = tokens.extent(0), n = tokens.extent(1), V = model.config().vocab_size;
  View2<T> full("full", S, model.config().padded_vocab());
  double worst = 0;
  for (int pos = from; pos < n; ++pos) {
    const auto logits = decoder.step(column(tokens, pos), pos);
    Tokens prefix("prefix", S, pos + 1);
    Kokkos::deep_copy(prefix, Kokkos::subview(tokens, Kokkos::ALL, std::make_pair(0, pos + 1)));
    model.next_logits(prefix, full);
    worst = std::max(worst, relative_difference<T>(logits, full, V));
  }
  return worst;
}

const GPT2Config kConfig{200, 40, 3, 4, 64};

}  // namespace

// The cached step adds the same products as the full forward in another order
// (a row at a time against batched gemms and blocked attention). These sharp
// weights make the logits (about 100) sensitive to rounding: in double the
// difference measured was 6.5e-13 of the largest logit (tolerance 1e-11). In
// float the same conditioning gives 1e-4 to 5e-4 depending on the gemm
// library and backend (2^29 times double's rounding), so the float check is
// against the model's own float rounding noise, the float full forward
// against the double one: a cache that held a wrong position differs by O(1).
TEST_CASE("KV-cache logits equal a full forward at every position", "[decoder]") {
  SECTION("double") {
    GPT2<double> model(kConfig);
    init_sharp(model);
    Decoder<double> decoder(model, 3, kConfig.block_size);
    CHECK(worst_difference(model, decoder, random_tokens(3, kConfig.block_size, kConfig.vocab_size, 1)) < 1e-11);
  }
  SECTION("float") {
    GPT2<float> model(kConfig);
    init_sharp(model);
    GPT2<double> exact(kConfig);  // the same weights, in double
    {
      const auto from = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), model.params);
      auto to = Kokkos::create_mirror_view(exact.params);
      for (std::size_t i = 0; i < from.extent(0); ++i) to(i) = from(i);
      Kokkos::deep_copy(exact.params, to);
    }
    Decoder<float> decoder(model, 2, kConfig.block_size);
    const Tokens tokens = random_tokens(2, kConfig.block_size, kConfig.vocab_size, 2);
    const double cached = worst_difference(model, decoder, tokens);
    double noise = 0;  // float full forward against double, over the same prefixes
    View2<float> full("full", 2, kConfig.padded_vocab());
    View2<double> full_exact("full_exact", 2, kConfig.padded_vocab());
    for (int pos = 0; pos < kConfig.block_size; ++pos) {
      Tokens prefix("prefix", 2, pos + 1);
      Kokkos::deep_copy(prefix, Kokkos::subview(tokens, Kokkos::ALL, std::make_pair(0, pos + 1)));
      model.next_logits(prefix, full);
      exact.next_logits(prefix, full_exact);
      auto f = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), full);
      auto d = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), full_exact);
      double diff = 0, scale = 0;
      for (int s = 0; s < 2; ++s)
        for (int v = 0; v < kConfig.vocab_size; ++v) {
          diff = std::max(diff, std::fabs(double(f(s, v)) - d(s, v)));
          scale = std::max(scale, std::fabs(d(s, v)));
        }
      noise = std::max(noise, diff / scale);
    }
    INFO("cached against full forward " << cached << ", float full forward against double " << noise);
    CHECK(noise < 1e-2);  // the float model itself is sound
    CHECK(cached < 4 * noise + 1e-6);
  }
}

TEST_CASE("a step at an earlier position replaces the cache from there on", "[decoder]") {
  GPT2<double> model(kConfig);
  init_sharp(model);
  Decoder<double> decoder(model, 2, 12);
  worst_difference(model, decoder, random_tokens(2, 12, kConfig.vocab_size, 3));
  const Tokens other = random_tokens(2, 12, kConfig.vocab_size, 4);
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), other);
  for (int t = 0; t < 5; ++t) host(0, t) = host(1, t) = 7;  // a prefix that differs from the first run's
  Kokkos::deep_copy(other, host);
  worst_difference(model, decoder, Kokkos::subview(other, Kokkos::ALL, std::make_pair(0, 5)));
  CHECK(worst_difference(model, decoder, other, 5) < 1e-11);
}

TEST_CASE("the decoder refuses positions outside its cache", "[decoder]") {
  GPT2<float> model(kConfig);
  CHECK_THROWS(Decoder<float>(model, 1, kConfig.block_size + 1));
  CHECK_THROWS(Decoder<float>(model, 0, 4));
  Decoder<float> decoder(model, 2, 4);
  Kokkos::View<int*, MemSpace> tokens("tokens", 2);
  CHECK_THROWS(decoder.step(tokens, 4));
  CHECK_THROWS(decoder.step(tokens, -1));
  CHECK_THROWS(decoder.step(Kokkos::View<int*, MemSpace>("one", 1), 0));
}

namespace {

// How often each token is drawn as u sweeps [0, 1) in n even steps.
std::vector<double> draw_frequencies(const std::vector<float>& logits, const SamplingSettings& settings, int n = 20000) {
  std::vector<int> count(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++count[sample_token(logits.data(), int(logits.size()), settings, (i + 0.5) / n)];
  std::vector<double> f;
  for (int c : count) f.push_back(double(c) / n);
  return f;
}

std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(float(std::log(x)));
  return l;
}

}  // namespace

TEST_CASE("sampling follows temperature, top-k and top-p", "[generate]") {
  const std::vector<double> p = {0.15, 0.5, 0.05, 0.3};
  const auto logits = log_probs(p);
  SamplingSettings s;
  auto f = draw_frequencies(logits, s);
  for (int v = 0; v < 4; ++v) CHECK(f[v] == Approx(p[v]).margin(1e-3));

  s.top_k = 1;  // greedy, whatever u
  f = draw_frequencies(logits, s);
  CHECK(f[1] == 1.0);

  s.top_k = 2;  // tokens 1 and 3, renormalised
  f = draw_frequencies(logits, s);
  CHECK(f[1] == Approx(0.5 / 0.8).margin(1e-3));
  CHECK(f[3] == Approx(0.3 / 0.8).margin(1e-3));
  CHECK(f[0] + f[2] == 0.0);

  s.top_k = 0;
  s.top_p = 0.75;  // 0.5 + 0.3 is the fewest reaching 0.75
  f = draw_frequencies(logits, s);
  CHECK(f[0] + f[2] == 0.0);
  CHECK(f[1] == Approx(0.5 / 0.8).margin(1e-3));
  s.top_p = 0.81;  // and 0.15 more
  f = draw_frequencies(logits, s);
  CHECK(f[2] == 0.0);
  CHECK(f[0] == Approx(0.15 / 0.95).margin(1e-3));
  s.top_p = 0.1;  // always keeps the most likely one
  CHECK(draw_frequencies(logits, s)[1] == 1.0);

  s.top_p = 1;
  s.temperature = 0.5;  // p^2, renormalised
  f = draw_frequencies(logits, s);
  const double z = 0.15 * 0.15 + 0.25 + 0.0025 + 0.09;
  for (int v = 0; v < 4; ++v) CHECK(f[v] == Approx(p[v] * p[v] / z).margin(1e-3));
}

TEST_CASE("sampling settings out of range are refused by name", "[generate]") {
  auto refused = [](double temperature, int top_k, double top_p) {
    SamplingSettings s;
    s.temperature = temperature;
    s.top_k = top_k;
    s.top_p = top_p;
    try {
      s.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(refused(1, 0, 1).empty());
  CHECK_THAT(refused(0, 0, 1), Catch::Contains("temperature"));
  CHECK_THAT(refused(-1, 0, 1), Catch::Contains("temperature"));
  CHECK_THAT(refused(std::nan(""), 0, 1), Catch::Contains("temperature"));
  CHECK_THAT(refused(1, -1, 1), Catch::Contains("top-k"));
  CHECK_THAT(refused(1, 0, 0), Catch::Contains("top-p"));
  CHECK_THAT(refused(1, 0, 1.5), Catch::Contains("top-p"));
}

TEST_CASE("generation with the cache equals generation by full forwards", "[generate]") {
  GPT2<float> model(kConfig);
  init_sharp(model);
  GenerationRequest request;
  request.prompt = {3, 14, 15, 92, 6};
  request.new_tokens = kConfig.block_size + 1 - 5;  // up to the last position
  request.count = 3;
  SamplingSettings settings;
  settings.seed = 11;
  const auto cached = generate(model, request, settings);
  request.kv_cache = false;
  CHECK(generate(model, request, settings) == cached);
  for (const auto& sample : cached) CHECK(int(sample.size()) == request.new_tokens);
  CHECK(cached[0] != cached[1]);

  request.kv_cache = true;
  request.count = 1;  // a sample does not depend on the others beside it
  CHECK(generate(model, request, settings)[0] == cached[0]);

  // A stop token ends the sample before it; the others go on.
  request.count = 3;
  request.stop_token = cached[1][4];
  const auto stopped = generate(model, request, settings);
  CHECK(stopped[1] == std::vector<int>(cached[1].begin(), cached[1].begin() + 4));

  request.window = kConfig.block_size + 1;
  CHECK_THROWS(generate(model, request, settings));
}

TEST_CASE("the prefill fills the cache that later steps read", "[decoder]") {
  GPT2<double> model(kConfig);
  init_sharp(model);
  const Tokens tokens = random_tokens(3, kConfig.block_size, kConfig.vocab_size, 6);
  for (const int P : {1, 7, kConfig.block_size - 1}) {
    INFO("prompt of " << P << " tokens");
    Decoder<double> decoder(model, 3, kConfig.block_size);
    Tokens prompt("prompt", 3, P);
    Kokkos::deep_copy(prompt, Kokkos::subview(tokens, Kokkos::ALL, std::make_pair(0, P)));
    const auto logits = decoder.prefill(prompt);
    View2<double> full("full", 3, kConfig.padded_vocab());
    model.next_logits(prompt, full);
    CHECK(relative_difference<double>(logits, full, kConfig.vocab_size) == 0);  // the same forward
    CHECK(worst_difference(model, decoder, tokens, P) < 1e-11);  // steps after it read the prefilled cache
  }
}

TEST_CASE("greedy generation is the same with and without the cache for short and long prompts", "[generate]") {
  const GPT2Config config{200, 128, 2, 4, 32};
  GPT2<float> model(config);
  init_sharp(model);
  std::mt19937 rng(7);
  for (const int P : {1, 7, 97, config.block_size - 1}) {
    GenerationRequest request;
    for (int t = 0; t < P; ++t) request.prompt.push_back(int(rng() % config.vocab_size));
    request.new_tokens = std::min(6, config.block_size + 1 - P);
    request.count = 2;
    SamplingSettings greedy;
    greedy.top_k = 1;
    GenerationTimes times;
    const auto cached = generate(model, request, greedy, &times);
    request.kv_cache = false;
    INFO("prompt of " << P << " tokens");
    CHECK(generate(model, request, greedy) == cached);
    CHECK(int(cached[0].size()) == request.new_tokens);
    CHECK(times.prefill > 0);
  }
}

// nanoGPT's cropping: the context is the last block_size tokens (window = block_size).
TEST_CASE("the context restarts window tokens back each time the cache fills", "[generate]") {
  std::vector<int> starts;
  for (int n = 14; n <= 28; ++n) starts.push_back(context_start(n, 16, 8));
  CHECK(starts == std::vector<int>{0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 18, 18, 18});
  for (int n = 17; n <= 40; ++n) CHECK(context_start(n, 16, 16) == n - 16);
}

// The full forwards crop the context as the cache's refills do; generation
// goes past block_size from short prompts and from prompts longer than it.
TEST_CASE("generation past block_size crops the context the same with and without the cache", "[generate]") {
  const GPT2Config config{97, 16, 2, 2, 16};
  GPT2<float> model(config);
  init_sharp(model);
  std::mt19937 rng(3);
  for (const int window : {0, 8, 1}) {
    for (const int P : {3, 16, 21}) {
      GenerationRequest request;
      for (int t = 0; t < P; ++t) request.prompt.push_back(int(rng() % config.vocab_size));
      request.new_tokens = 40;
      request.count = 2;
      request.window = window;
      SamplingSettings greedy;
      greedy.top_k = 1;
      const auto cached = generate(model, request, greedy);
      request.kv_cache = false;
      INFO("window " << window << ", prompt of " << P << " tokens");
      CHECK(generate(model, request, greedy) == cached);
      CHECK(int(cached[0].size()) == 40);
    }
  }
}
