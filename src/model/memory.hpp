// Memory a command is about to allocate, estimated from the shapes before any
// big allocation, against what the backend can still give: a refusal that
// states both figures instead of an allocation failure deep in Kokkos, or the
// out-of-memory killer once pages are touched.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"

namespace sk {

struct MemoryNeed {
  std::vector<std::pair<std::string, double>> parts;  // what, bytes
  MemoryNeed& add(std::string what, double bytes) {
    parts.emplace_back(std::move(what), bytes);
    return *this;
  }
  double total() const;
};

// Bytes of a float model's parameters and, unless built without them for
// inference, its gradients (GPT2<float>::Gradients).
double model_bytes(const GPT2Config& config, bool gradients = true);
// Bytes of the activations of a forward and backward over B x T tokens.
double activation_bytes(const GPT2Config& config, int B, int T);
// Bytes of the decoder's key/value cache and activations (generation).
double decoder_bytes(const GPT2Config& config, int S, int positions);

// The model and the activations of a forward and backward over B x T tokens
// (evaluate, grad, and a training step without its optimizer).
MemoryNeed forward_need(const GPT2Config& config, int B, int T);
// The same for a model without gradients (evaluate).
MemoryNeed inference_need(const GPT2Config& config, int B, int T);
// The same and an optimizer's two state buffers, of which this rank holds
// `state_share` (1, or 1/ranks under ZeRO-1).
MemoryNeed training_need(const GPT2Config& config, int B, int T, double state_share);

// need plus what Hessian-vector products (GPT2::hvp) add: the activations'
// tangents, attention's delta and R{delta}, and `vectors` parameter-sized
// buffers (the direction, H v, ...).
MemoryNeed with_hvp(MemoryNeed need, const GPT2Config& config, int B, int T, int vectors);

// Bytes the default memory space can still allocate: a GPU's free memory; on
// CPUs the kernel's MemAvailable, within the process's cgroup limit if lower.
double available_memory();

// Throws sk::Error, naming the command, the total and its parts, and what is
// available, when the need exceeds what is available.
void require_memory(const std::string& command, const MemoryNeed& need, double available = available_memory());

}  // namespace sk
