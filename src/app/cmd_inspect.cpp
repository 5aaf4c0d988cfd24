// sophia-kokkos inspect: what a checkpoint holds, with every checksum verified.
#include <cmath>
#include <cstdio>
#include <limits>

#include "checkpoint.hpp"
#include "checkpoint_policy.hpp"
#include "commands.hpp"
#include "error.hpp"

namespace sk {

int cmd_inspect(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("inspect",
               "Prints a checkpoint's model configuration, step, optimizer, and every tensor (parameters and\n"
               "optimizer state) with its shape and L2 norm, after reading all of it: HDF5 verifies each\n"
               "dataset's Fletcher32 checksum, so a damaged file is reported (exit status 1).");
  opts.add("--checkpoint", "CKPT.h5", "the checkpoint (also accepted as the first argument)");
  const bool positional = argc > 2 && argv[2][0] != '-';
  if (!opts.parse(argc, argv, positional ? 3 : 2)) {
    if (mpi.rank() == 0) std::fputs(opts.help().c_str(), stdout);
    return 0;
  }
  const std::string path = positional ? argv[2] : opts.str("--checkpoint");
  const CheckpointInfo info = read_checkpoint_info(path);
  const std::string counters = counter_problems(info.state, std::numeric_limits<long>::max());  // any run length
  if (!counters.empty()) throw Error(path + ": /state: " + counters);
  const ParameterLayout layout(info.config);
  const std::vector<std::string> names = optimizer_state_names(info.optimizer_type);
  std::vector<float> params(layout.size());
  std::vector<std::vector<float>> state(names.size(), std::vector<float>(layout.size()));
  std::vector<std::pair<std::string, float*>> buffers;
  for (std::size_t i = 0; i < names.size(); ++i) buffers.emplace_back(names[i], state[i].data());
  read_checkpoint(path, layout, params.data(), buffers, 0, layout.size());
  if (mpi.rank() != 0) return 0;

  const auto& c = info.config;
  std::printf("checkpoint %s\n", path.c_str());
  std::printf("model: vocab_size %d, block_size %d, n_layer %d, n_head %d, n_embd %d (%.2fM parameters)\n",
              c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd, layout.stored_count() / 1e6);
  std::printf("optimizer: %s; step %ld; data position %lu sequences; seed %lu\n", name_of(info.optimizer_type),
              long(info.state.step), static_cast<unsigned long>(info.state.data_position),
              static_cast<unsigned long>(info.state.seed));
  std::printf("\n%-44s %-14s %12s", "tensor", "shape", "|param|");
  for (const auto& n : names) std::printf(" %12s", ("|" + n + "|").c_str());
  std::printf("\n");
  auto norm = [](const std::vector<float>& v, const TensorSpec& t) {
    double s = 0;
    for (std::size_t i = 0; i < t.size(); ++i) s += double(v[t.offset + i]) * v[t.offset + i];
    return std::sqrt(s);
  };
  for (const auto& t : layout.tensors()) {
    std::string shape = "[";
    for (std::size_t i = 0; i < t.stored.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.stored[i]);
    std::printf("%-44s %-14s %12.5g", t.name.c_str(), (shape + "]").c_str(), norm(params, t));
    for (const auto& s : state) std::printf(" %12.5g", norm(s, t));
    std::printf("\n");
  }
  std::printf("\nall %zu datasets read; checksums verified\n", layout.tensors().size() * (1 + names.size()));
  std::printf("\ndeck:\n%s", info.state.deck.c_str());
  return 0;
}

}  // namespace sk
