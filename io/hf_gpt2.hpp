// Hugging Face GPT-2 checkpoints (GPT2LMHeadModel): a folder holding
// model.safetensors and config.json. Against our layout (src/core/parameters):
// - the linear layers are Conv1D, stored [in, out]: c_attn, c_proj and c_fc
//   weights are transposed on the way in and out;
// - names may carry the "transformer." prefix or not;
// - lm_head.weight, where present, is the tied wte.weight (refused if it differs);
// - the attention's attn.bias and attn.masked_bias are buffers, not
//   parameters, and are skipped;
// - config.json names block_size n_positions (older files: n_ctx).
#pragma once
#include <string>
#include <vector>

#include "config.hpp"
#include "parameters.hpp"

namespace sk {

struct HFWeights {
  GPT2Config config;
  std::vector<float> params;  // ParameterLayout(config).size() floats, padded rows zero
};

// The two files of a checkpoint in `folder`, joined to it as given.
struct HFFiles {
  std::string config, model;  // FOLDER/config.json, FOLDER/model.safetensors
};
HFFiles hf_gpt2_files(const std::string& folder);

// The tokenizer and generation files that save_pretrained writes beside a
// GPT-2 checkpoint: vocab.json, merges.txt (OpenAI's encoder.json and
// vocab.bpe under Hugging Face's names), tokenizer_config.json,
// special_tokens_map.json and generation_config.json, in `folder`.
std::vector<std::string> hf_tokenizer_files(const std::string& folder);

// The files read_hf_gpt2 reads for a folder, or for a model.safetensors given
// by name (config.json beside it); throws sk::Error if the path does not exist.
HFFiles hf_gpt2_inputs(const std::string& folder_or_file);

// Reads a folder (or its model.safetensors); throws sk::Error naming the file,
// the tensor and the problem.
HFWeights read_hf_gpt2(const std::string& folder);
// Only its config.json, as the model shape.
GPT2Config read_hf_gpt2_config(const std::string& folder);

// Writes model.safetensors (F32, "transformer." names, no lm_head: tied) and
// config.json into `folder`, creating it, and with a tokenizer folder (not
// empty) the hf_tokenizer_files from it: GPT-2's vocabulary, so the model's
// vocabulary must hold its 50257 tokens. All or none of them; throws sk::Error.
void write_hf_gpt2(const std::string& folder, const GPT2Config& config, const ParameterLayout& layout,
                   const float* params, const std::string& tokenizer = "");

}  // namespace sk
