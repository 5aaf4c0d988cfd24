// sophia-kokkos sample: text from a trained model, with a key/value cache.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "error.hpp"
#include "files.hpp"
#include "generate.hpp"
#include "memory.hpp"
#include "tokenizer.hpp"
#include "model_weights.hpp"
#include "weights.hpp"

namespace sk {
namespace {

std::vector<int> parse_token_ids(const std::string& text) {
  std::istringstream in(text);
  std::vector<int> ids;
  std::string word;
  while (std::getline(in, word, ',')) {
    std::istringstream w(word);
    long id = 0;
    std::string rest;
    if (!(w >> id) || (w >> rest) || id < 0 || id > std::numeric_limits<int>::max())
      throw UsageError("sample: option --prompt-tokens takes token ids separated by commas, got '" + text + "'");
    ids.push_back(int(id));
  }
  return ids;
}

// The prompt's tokens: --prompt-tokens, else --prompt or --prompt-file
// encoded, else the <|endoftext|> token that GPT-2's documents start after.
std::vector<int> prompt_tokens(const Options& opts, const GPT2Config& config, Gpt2Tokenizer* tokenizer) {
  const int given = opts.has("--prompt") + opts.has("--prompt-tokens") + opts.has("--prompt-file");
  if (given > 1) throw UsageError("sample: give one of --prompt, --prompt-file and --prompt-tokens");
  std::vector<int> ids;
  if (opts.has("--prompt-tokens")) ids = parse_token_ids(opts.str("--prompt-tokens"));
  else if (opts.has("--prompt")) ids = tokenizer->encode(opts.str("--prompt"));
  else if (opts.has("--prompt-file")) ids = tokenizer->encode(utf8_text_file(opts.str("--prompt-file"), "prompt file"));
  if (ids.empty()) {
    if (config.vocab_size <= Gpt2Tokenizer::end_of_text)
      throw Error(std::string(given ? "with an empty prompt" : "without a prompt") +
                  ", samples start at <|endoftext|> (" + std::to_string(Gpt2Tokenizer::end_of_text) +
                  "), which the model's vocabulary (vocab_size " + std::to_string(config.vocab_size) +
                  ") lacks: give --prompt-tokens");
    ids.push_back(Gpt2Tokenizer::end_of_text);
  }
  for (const int id : ids)
    if (id >= config.vocab_size)
      throw Error("prompt token " + std::to_string(id) + " is outside the model's vocabulary (vocab_size " +
                  std::to_string(config.vocab_size) + ")");
  return ids;
}

SamplingSettings sampling_settings(const Options& opts) {
  const double big = std::numeric_limits<double>::max();
  SamplingSettings s;
  s.temperature = opts.number("--temperature", -big, big);
  if (!(s.temperature > 0))
    throw UsageError("sample: option --temperature must be above 0, got " + opts.str("--temperature") +
                     " (--top-k 1 draws the most likely token)");
  s.top_k = int(opts.integer("--top-k", 0, std::numeric_limits<int>::max()));
  s.top_p = opts.number("--top-p", -big, big);
  if (!(s.top_p > 0 && s.top_p <= 1))
    throw UsageError("sample: option --top-p must be in (0, 1], got " + opts.str("--top-p"));
  s.seed = std::uint64_t(opts.integer("--seed", 0, std::numeric_limits<long>::max()));
  return s;
}

// The prompt as printed: a leading <|endoftext|> starts a document and is not printed.
std::vector<int> printed_prompt(const std::vector<int>& prompt) {
  auto first = prompt.begin();
  while (first != prompt.end() && *first == Gpt2Tokenizer::end_of_text) ++first;
  return std::vector<int>(first, prompt.end());
}

void write_text(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }  // may hold NUL bytes

// Each sample with its prompt as text, or (without a tokenizer) its new token ids on one line.
void print_samples(const std::vector<std::vector<int>>& samples, const std::vector<int>& prompt,
                   const Gpt2Tokenizer* tokenizer) {
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!tokenizer) {
      for (std::size_t j = 0; j < samples[i].size(); ++j) std::printf(j ? " %d" : "%d", samples[i][j]);
      std::printf("\n");
      continue;
    }
    if (samples.size() > 1) std::printf("--- sample %zu\n", i + 1);
    // Decoded with the prompt: a character may be split between the two.
    std::vector<int> text = printed_prompt(prompt);
    text.insert(text.end(), samples[i].begin(), samples[i].end());
    write_text(tokenizer->decode_text(text));
    std::fputc('\n', stdout);
  }
}

// Prints the prompt now and each new token as generate() draws it, flushed so
// that a terminal or a pipe shows it at once; the caller ends with stream.finish().
void stream_sample(GenerationRequest& request, TextStream& stream) {
  for (const int id : printed_prompt(request.prompt)) write_text(stream.add(id));
  std::fflush(stdout);
  request.on_token = [&stream](int, int token) {
    write_text(stream.add(token));
    std::fflush(stdout);
  };
}

// Refuses a sample whose model, cache and activations would not fit in memory.
// Past block_size, the context and so the cache stay within block_size
// positions, and the refills are prefills of request.window tokens.
void require_sample_memory(const GPT2Config& config, const GenerationRequest& request) {
  const int B = config.block_size, P = int(request.prompt.size()), S = request.count;
  const int fed = P + request.new_tokens - 1, positions = std::min(fed, B);
  const int prefill = fed > B ? std::max(std::min(P, B), request.window ? request.window : B) : P;
  MemoryNeed need;
  need.add("parameters", model_bytes(config, false));
  if (request.kv_cache)
    need.add("key/value cache", decoder_bytes(config, S, positions))
        .add("activations of the prompts", activation_bytes(config, S, prefill));
  else need.add("activations", activation_bytes(config, S, positions));
  require_memory("sample", need.add("logits", 2.0 * S * config.padded_vocab() * sizeof(float)));
}

// The prefill's rate counts the prompt's tokens; decoding's, the new tokens after the first.
void report_rates(const std::vector<std::vector<int>>& samples, const GenerationRequest& request,
                  const GenerationTimes& times) {
  std::size_t generated = 0;
  for (const auto& s : samples) generated += s.size();
  const int P = int(request.prompt.size());
  const double prompt_tokens = double(P) * request.count, decoded = double(generated) - request.count;
  std::fprintf(stderr,
               "sample: %zu tokens in %.3f s (%s; prompt of %d token%s, %d sample%s): prefill %.3f s, %.1f prompt "
               "tokens/s; decode %.3f s, %.1f tokens/s\n",
               generated, times.prefill + times.decode, request.kv_cache ? "key/value cache" : "full forward per token",
               P, P > 1 ? "s" : "", request.count, request.count > 1 ? "s" : "", times.prefill,
               prompt_tokens / times.prefill, times.decode, decoded > 0 ? decoded / times.decode : 0.0);
}

}  // namespace

int cmd_sample(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("sample",
               "Continues a prompt with a model: C samples of up to N new tokens, each drawn from the\n"
               "softmax of the logits over T, kept to the K most likely tokens and then to the fewest\n"
               "most likely holding P of the mass. A sample ends at <|endoftext|>. The prompts go\n"
               "through one batched forward that caches their keys and values (the prefill); each new\n"
               "token then costs the forward of one position. Past the model's block_size the context is\n"
               "cropped, as nanoGPT crops it: a full cache is refilled by a prefill of the last W tokens,\n"
               "so each token is drawn after the last W to block_size tokens. W = block_size (the default)\n"
               "is nanoGPT's cropping exactly, at a forward of block_size tokens per token; W = block_size/2\n"
               "costs one forward of W tokens every block_size/2 + 1 tokens. Prints each sample with its\n"
               "prompt; one sample's text is printed as it is generated, token by token (--no-stream: at\n"
               "the end, as with --count above 1 and --ids). The prefill's and decoding's rates go to\n"
               "stderr; only rank 0 works under MPI.");
  opts.add("--weights", "PATH", "a weights file (final.h5, from import), a checkpoint, or a Hugging Face folder");
  opts.add("--prompt", "TEXT", "the text to continue (default: start a document, <|endoftext|>)");
  opts.add("--prompt-file", "FILE", "the text to continue, read from FILE ('-': standard input)");
  opts.add("--prompt-tokens", "IDS", "the prompt as token ids separated by commas, e.g. 464,2068");
  opts.add("--tokens", "N", "new tokens per sample", "64");
  opts.add("--count", "C", "samples, generated side by side", "1");
  opts.add("--window", "W", "past block_size, refill a full cache with the last W tokens (default: block_size)");
  opts.add("--temperature", "T", "above 0; lower is more predictable", "1");
  opts.add("--top-k", "K", "keep the k most likely tokens; 0 keeps all, 1 is greedy", "0");
  opts.add("--top-p", "P", "in (0, 1]: nucleus sampling", "1");
  opts.add("--seed", "S", "seed of the draws: the same seed gives the same samples", "0");
  opts.add_flag("--no-stop", "go on past <|endoftext|>");
  opts.add_flag("--no-stream", "print the sample once it is complete instead of token by token");
  opts.add_flag("--ids", "print the new token ids of each sample, one line each, instead of text");
  opts.add_flag("--no-kv-cache", "a full forward over the whole prefix at every token (slow; for comparison)");
  add_tokenizer_option(opts);
  add_precision_option(opts);
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  use_precision_option(opts, "sample");
  const std::string weights = opts.str("--weights");
  const SamplingSettings settings = sampling_settings(opts);
  GenerationRequest request;
  request.new_tokens = int(opts.integer("--tokens", 1, max_new_tokens));
  request.count = int(opts.integer("--count", 1, 1 << 16));
  request.stop_token = opts.flag("--no-stop") ? -1 : Gpt2Tokenizer::end_of_text;
  request.kv_cache = !opts.flag("--no-kv-cache");
  if (mpi.rank() != 0) return 0;

  const GPT2Config config = weights_config(weights);
  std::unique_ptr<Gpt2Tokenizer> tokenizer;
  if (opts.has("--prompt") || opts.has("--prompt-file") || !opts.flag("--ids"))
    tokenizer = std::make_unique<Gpt2Tokenizer>(tokenizer_option(opts));
  request.prompt = prompt_tokens(opts, config, tokenizer.get());
  if (opts.has("--window")) request.window = int(opts.integer("--window", 1, config.block_size));
  require_sample_memory(config, request);
  GPT2<float> model(config, GPT2<float>::Gradients::none);
  load_weights(model, weights);

  std::unique_ptr<TextStream> stream;
  if (!opts.flag("--no-stream") && !opts.flag("--ids") && request.count == 1) {
    stream = std::make_unique<TextStream>(*tokenizer);
    stream_sample(request, *stream);
  }
  GenerationTimes times;
  const auto samples = generate(model, request, settings, &times);
  if (stream) {
    write_text(stream->finish());
    std::fputc('\n', stdout);
  } else {
    print_samples(samples, request.prompt, opts.flag("--ids") ? nullptr : tokenizer.get());
  }
  std::fflush(stdout);
  report_rates(samples, request, times);
  return 0;
}

}  // namespace sk
