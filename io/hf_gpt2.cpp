#include "hf_gpt2.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "files.hpp"
#include "safetensors.hpp"
#include "strict_json.hpp"
#include "tokenizer.hpp"

namespace sk {
namespace {

const std::string prefix = "transformer.";

// Conv1D weights, stored transposed against ours.
bool is_conv1d(const std::string& name) {
  for (const char* w : {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"}) {
    const std::string s = w;
    if (name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

// The non-parameter buffers of HF's attention, and the tied head.
bool skipped(const std::string& hf_name) {
  const std::string n = hf_name.rfind(prefix, 0) == 0 ? hf_name.substr(prefix.size()) : hf_name;
  auto ends = [&](const std::string& s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
  return n == "lm_head.weight" || ends(".attn.bias") || ends(".attn.masked_bias");
}

// rows x cols, row-major -> cols x rows: Conv1D's [in, out] to and from our [out, in].
void transpose(const float* in, std::size_t rows, std::size_t cols, float* out) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

GPT2Config read_hf_config(const std::string& path) {
  const nlohmann::json j = parse_json_strictly(read_whole_file(path, "Hugging Face config"), path);
  if (!j.is_object()) throw Error(path + " is not a JSON object");
  auto field = [&](const char* key, const char* alias) {
    const char* k = j.contains(key) || !alias ? key : alias;
    if (!j.contains(k)) throw Error(path + ": " + key + " is missing");
    const nlohmann::json& v = j[k];
    if (!v.is_number_integer()) throw Error(path + ": " + k + " is not an integer");
    // Negative numbers are integers but not unsigned ones; as the file wrote it, 2^64-1 is not -1.
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() < 1 || v.get<std::uint64_t>() > (1u << 30))
      throw Error(path + ": " + k + " " + v.dump() + " is out of range");
    return v.get<int>();
  };
  GPT2Config c;
  c.vocab_size = field("vocab_size", nullptr);
  c.block_size = field("n_positions", "n_ctx");
  c.n_layer = field("n_layer", nullptr);
  c.n_head = field("n_head", nullptr);
  c.n_embd = field("n_embd", nullptr);
  if (j.contains("activation_function") && j["activation_function"] != "gelu_new")
    throw Error(path + ": activation_function " + j["activation_function"].dump() +
                " is not supported (this program's GELU is gelu_new, the tanh approximation)");
  if (j.contains("layer_norm_epsilon") && (!j["layer_norm_epsilon"].is_number() || j["layer_norm_epsilon"] != 1e-5))
    throw Error(path + ": layer_norm_epsilon " + j["layer_norm_epsilon"].dump() + " is not supported (1e-5 only)");
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"] == false)
    throw Error(path + ": tie_word_embeddings is false; this program's LM head is tied to wte");
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return c;
}

// The tensor our `name` is stored as, with or without the prefix; nullptr if absent.
const SafetensorsEntry* find_tensor(const SafetensorsFile& file, const std::string& name) {
  const std::string bare = name.substr(prefix.size());
  const SafetensorsEntry* e = file.find(name);
  return e ? e : file.find(bare);
}

void write_text(StagedFiles& out, const std::string& path, const std::string& text) {
  const std::string tmp = out.stage(path);
  std::ofstream file(tmp, std::ios::binary);
  file << text;
  if (!file.flush()) throw Error("cannot write " + tmp + " (disk full?)");
}

// GPT-2's tokenizer files as save_pretrained writes them: the vocabulary and
// merges copied byte for byte, and the special token, <|endoftext|>, as
// beginning, end and unknown token.
void write_tokenizer(StagedFiles& out, const std::string& folder, const GPT2Config& config,
                     const std::string& tokenizer) {
  const int eot = Gpt2Tokenizer::end_of_text;
  if (config.vocab_size <= eot)
    throw Error("the model's vocabulary (" + std::to_string(config.vocab_size) + " tokens) is smaller than GPT-2's " +
                std::to_string(eot + 1) + ": GPT-2's tokenizer files do not fit it");
  const std::vector<std::string> files = hf_tokenizer_files(folder);
  const TokenizerFiles source = tokenizer_files(tokenizer);
  const nlohmann::json special = {
      {"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}, {"unk_token", "<|endoftext|>"}};
  nlohmann::json tokenizer_config = special;
  tokenizer_config.update({{"tokenizer_class", "GPT2Tokenizer"},
                           {"model_max_length", config.block_size},
                           {"add_prefix_space", false}});
  write_text(out, files[0], read_whole_file(source.vocabulary, "tokenizer file"));
  write_text(out, files[1], read_whole_file(source.merges, "tokenizer file"));
  write_text(out, files[2], tokenizer_config.dump(2) + "\n");
  write_text(out, files[3], special.dump(2) + "\n");
  write_text(out, files[4], nlohmann::json{{"bos_token_id", eot}, {"eos_token_id", eot}}.dump(2) + "\n");
}

}  // namespace

HFFiles hf_gpt2_files(const std::string& folder) {
  const std::filesystem::path f(folder);
  return {(f / "config.json").string(), (f / "model.safetensors").string()};
}

std::vector<std::string> hf_tokenizer_files(const std::string& folder) {
  const std::filesystem::path f(folder);
  std::vector<std::string> files;
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json"})
    files.push_back((f / name).string());
  return files;
}

HFFiles hf_gpt2_inputs(const std::string& folder_or_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(folder_or_file, ec);
  if (!fs::exists(st))
    throw Error("cannot open Hugging Face checkpoint " + folder_or_file + ": " +
                (ec ? ec : std::make_error_code(std::errc::no_such_file_or_directory)).message());
  if (fs::is_directory(st)) return hf_gpt2_files(folder_or_file);
  // A model.safetensors given by name: config.json beside it ("config.json" alone in the working folder).
  return {(fs::path(folder_or_file).parent_path() / "config.json").string(), folder_or_file};
}

GPT2Config read_hf_gpt2_config(const std::string& folder_or_file) {
  return read_hf_config(hf_gpt2_inputs(folder_or_file).config);
}

HFWeights read_hf_gpt2(const std::string& folder_or_file) {
  const HFFiles files = hf_gpt2_inputs(folder_or_file);
  HFWeights w;
  w.config = read_hf_config(files.config);
  const ParameterLayout layout(w.config);
  const SafetensorsFile file(files.model);
  w.params.assign(layout.size(), 0.0f);
  for (const auto& t : layout.tensors()) {
    const std::string where = file.path() + ": tensor " + t.name.substr(prefix.size());
    const SafetensorsEntry* e = find_tensor(file, t.name);
    if (!e) throw Error(where + " is missing");
    std::vector<std::size_t> expected = t.stored;
    if (is_conv1d(t.name)) std::swap(expected[0], expected[1]);
    if (e->shape != expected)
      throw Error(where + " has shape " + shape_string(e->shape) + ", expected " + shape_string(expected));
    const std::vector<float> v = file.read(*e);
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i])) throw Error(where + " holds " + std::to_string(v[i]) + " at element " + std::to_string(i));
    float* out = w.params.data() + t.offset;
    if (is_conv1d(t.name)) transpose(v.data(), expected[0], expected[1], out);
    else std::copy(v.begin(), v.end(), out);
  }
  for (const auto& e : file.entries()) {
    const bool ours = layout.tensors().end() != std::find_if(layout.tensors().begin(), layout.tensors().end(),
                                                             [&](const TensorSpec& t) { return find_tensor(file, t.name) == &e; });
    if (!ours && !skipped(e.name)) throw Error(file.path() + ": tensor " + e.name + " is not part of GPT-2");
  }
  for (const char* head : {"lm_head.weight", "transformer.lm_head.weight"}) {
    const SafetensorsEntry* e = file.find(head);
    if (!e) continue;
    const TensorSpec& wte = layout.find("transformer.wte.weight");
    const std::vector<float> v = file.read(*e);
    if (e->shape != wte.stored || !std::equal(v.begin(), v.end(), w.params.begin() + std::ptrdiff_t(wte.offset)))
      throw Error(file.path() + ": " + head + " differs from wte.weight; this program's LM head is tied to wte");
  }
  return w;
}

void write_hf_gpt2(const std::string& folder, const GPT2Config& config, const ParameterLayout& layout,
                   const float* params, const std::string& tokenizer) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error("cannot create folder " + folder + ": " + ec.message());
  std::vector<std::vector<float>> transposed;  // Conv1D weights in [in, out]
  transposed.reserve(layout.tensors().size());
  std::vector<SafetensorsTensor> tensors;
  for (const auto& t : layout.tensors()) {
    const float* values = params + t.offset;
    std::vector<std::size_t> shape = t.stored;
    if (is_conv1d(t.name)) {
      transposed.emplace_back(shape[0] * shape[1]);
      transpose(values, shape[0], shape[1], transposed.back().data());
      values = transposed.back().data();
      std::swap(shape[0], shape[1]);
    }
    tensors.push_back({t.name, shape, values});
  }
  const nlohmann::json j = {
      {"model_type", "gpt2"},          {"architectures", {"GPT2LMHeadModel"}},
      {"vocab_size", config.vocab_size}, {"n_positions", config.block_size},
      {"n_ctx", config.block_size},      {"n_layer", config.n_layer},
      {"n_head", config.n_head},         {"n_embd", config.n_embd},
      {"activation_function", "gelu_new"}, {"layer_norm_epsilon", 1e-5},
      {"tie_word_embeddings", true}};
  // Every file is staged (its destination checked) before any is written,
  // and they are renamed together: a failure leaves the folder as it was.
  const HFFiles files = hf_gpt2_files(folder);
  StagedFiles out;
  write_text(out, files.config, j.dump(2) + "\n");
  if (!tokenizer.empty()) write_tokenizer(out, folder, config, tokenizer);
  write_safetensors(out, files.model, tensors, {{"format", "pt"}});
  out.commit();
}

}  // namespace sk
