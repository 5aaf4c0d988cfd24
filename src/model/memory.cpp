#include "memory.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numeric>
#include <string>

#include <Kokkos_Core.hpp>
#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime_api.h>
#elif defined(KOKKOS_ENABLE_HIP)
#include <hip/hip_runtime_api.h>
#endif

#include "attention.hpp"
#include "decoder.hpp"
#include "encoder.hpp"
#include "error.hpp"
#include "gpt2.hpp"
#include "parameters.hpp"
#include "reduction.hpp"

namespace sk {

double MemoryNeed::total() const {
  return std::accumulate(parts.begin(), parts.end(), 0.0, [](double s, const auto& p) { return s + p.second; });
}

double model_bytes(const GPT2Config& config, bool gradients) {
  // bf16 gemms read a bf16 copy of the weights (GPT2::gemm_weights_bytes).
  const double copy = kblas::gemm_precision() == kblas::GemmPrecision::bf16 ? 0.5 : 0.0;
  return ((gradients ? 2.0 : 1.0) + copy) * ParameterLayout(config).size() * sizeof(float);
}

double activation_bytes(const GPT2Config& c, int B, int T) {
  const double buffer = double(activation_buffer_elements(c, B, T)) * sizeof(float);
  if (double(B) * T > std::numeric_limits<int>::max()) return buffer;  // the scratch below counts rows in an int
  const int BT = B * T;
  const double scratch = double(column_partials_size(BT, c.n_embd, 2)) +
                         attention_scratch_size({B, T, c.n_head, c.n_embd / c.n_head});
  // bf16 gemms read the LM head chunk's gradient as one bf16 copy (kblas::ConvertOnce).
  const double head_copy = kblas::gemm_precision() == kblas::GemmPrecision::bf16
                               ? double(head_chunk_rows(BT)) * c.padded_vocab() * sizeof(std::uint16_t)
                               : 0.0;
  return buffer + head_copy + scratch * sizeof(float) +
         double(encoder_backward_scratch_size(c.padded_vocab(), BT)) * sizeof(int);
}

double decoder_bytes(const GPT2Config& config, int S, int positions) {
  return Decoder<float>::bytes(config, S, positions);
}

MemoryNeed forward_need(const GPT2Config& config, int B, int T) {
  return MemoryNeed()
      .add("parameters and gradients", model_bytes(config))
      .add("activations of " + std::to_string(B) + "x" + std::to_string(T) + " tokens", activation_bytes(config, B, T));
}

MemoryNeed inference_need(const GPT2Config& config, int B, int T) {
  return MemoryNeed()
      .add("parameters", model_bytes(config, false))
      .add("activations of " + std::to_string(B) + "x" + std::to_string(T) + " tokens", activation_bytes(config, B, T));
}

MemoryNeed with_hvp(MemoryNeed need, const GPT2Config& config, int B, int T, int vectors) {
  const double attention = double(attention_tangent_scratch_size({B, T, config.n_head, config.n_embd / config.n_head}));
  return need.add("activation tangents", activation_bytes(config, B, T) + attention * sizeof(float))
      .add("directions and products", vectors * model_bytes(config, false));
}

MemoryNeed training_need(const GPT2Config& config, int B, int T, double state_share) {
  return forward_need(config, B, T).add("optimizer state", model_bytes(config) * state_share);
}

namespace {

#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
constexpr const char* kWhere = " on the GPU";
#else
constexpr const char* kWhere = "";
#endif

// A number from a one-line file such as cgroup v2's memory.max ("max": none).
double read_limit(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return std::numeric_limits<double>::infinity();
  try {
    return std::stod(word);
  } catch (const std::exception&) {
    return std::numeric_limits<double>::infinity();
  }
}

// MemAvailable of /proc/meminfo, in bytes; infinity where it cannot be read.
double mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return std::numeric_limits<double>::infinity();
}

// What this process's memory cgroup still allows (limit - usage; v1 or v2);
// infinity without a limit.
double cgroup_room() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  double room = std::numeric_limits<double>::infinity();
  while (std::getline(in, line)) {
    if (line.compare(0, 3, "0::") == 0) {
      const std::string dir = "/sys/fs/cgroup" + line.substr(3);
      room = std::min(room, read_limit(dir + "/memory.max") - read_limit(dir + "/memory.current"));
    }
    const auto v1 = line.find(":memory:");
    if (v1 != std::string::npos) {
      const std::string dir = "/sys/fs/cgroup/memory" + line.substr(v1 + 8);
      room = std::min(room, read_limit(dir + "/memory.limit_in_bytes") - read_limit(dir + "/memory.usage_in_bytes"));
    }
  }
  return room;
}

}  // namespace

double available_memory() {
#if defined(KOKKOS_ENABLE_CUDA)
  std::size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) == cudaSuccess) return double(free);
#elif defined(KOKKOS_ENABLE_HIP)
  std::size_t free = 0, total = 0;
  if (hipMemGetInfo(&free, &total) == hipSuccess) return double(free);
#endif
  return std::min(mem_available(), cgroup_room());
}

void require_memory(const std::string& command, const MemoryNeed& need, double available) {
  if (need.total() <= available) return;
  auto gb = [](double bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g GB", bytes / 1e9);
    return std::string(buf);
  };
  std::string parts;
  for (const auto& [what, bytes] : need.parts) parts += (parts.empty() ? "" : ", ") + what + " " + gb(bytes);
  throw Error(command + ": needs about " + gb(need.total()) + " (" + parts + "), but " + gb(available) +
              " of memory is available" + kWhere);
}

}  // namespace sk
