#include "checkpoint_policy.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "comm.hpp"
#include "error.hpp"

namespace sk {

namespace fs = std::filesystem;

namespace {
// The step of a checkpoint file name, or -1 if it is not one.
long step_of(const std::string& name) {
  if (name.size() != 16 || name.rfind("ckpt_", 0) != 0 || name.substr(13) != ".h5") return -1;
  const std::string digits = name.substr(5, 8);
  if (!std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stol(digits);
}
// Host copies of the parameters and this rank's optimizer state, for I/O.
struct HostState {
  View1<float>::HostMirror params;
  std::vector<std::pair<std::string, View1<float>::HostMirror>> optimizer;
  HostState(const GPT2<float>& model, Optimizer& opt) : params(Kokkos::create_mirror_view(model.params)) {
    for (auto& [name, view] : opt.state()) optimizer.emplace_back(name, Kokkos::create_mirror_view(view));
  }
};

}  // namespace

// "n_layer 2 (file) vs 1 (deck), ..." for the fields that differ; empty if none.
std::string shape_differences(const GPT2Config& file, const GPT2Config& deck) {
  std::string out;
  for (const ModelField& f : model_fields) {
    const int a = file.*f.member, b = deck.*f.member;
    if (a != b) out += (out.empty() ? "" : ", ") + std::string(f.name) + " " + std::to_string(a) + " (file) vs " +
                       std::to_string(b) + " (deck)";
  }
  return out;
}

void save_checkpoint(const std::string& path, GPT2<float>& model, Optimizer& opt, const GradientReducer& reducer,
                     const TrainConfig& cfg, const TrainingState& state) {
  HostState host(model, opt);
  Kokkos::deep_copy(host.params, model.params);
  CheckpointData data{host.params.data(), cfg.optimizer.type, {}, reducer.partition().begin, reducer.partition().end,
                      reducer.partitioned(), state};
  auto views = opt.state();
  for (std::size_t i = 0; i < views.size(); ++i) {
    Kokkos::deep_copy(host.optimizer[i].second, views[i].second);
    data.optimizer_state.emplace_back(views[i].first, host.optimizer[i].second.data());
  }
  write_checkpoint(path, model.config(), model.layout(), data);
}

// Loads a checkpoint into the model and optimizer after checking that it
// fits the deck; the loading is also the verification of every checksum. The
// file is read into staging copies (never into the model: on host backends a
// mirror view would be the model's own memory) and the ranks agree on the
// outcome before any rank commits, so a file damaged only in one rank's partition
// is refused everywhere and leaves every rank's state as it was.
TrainingState load_checkpoint(const std::string& path, GPT2<float>& model, Optimizer& opt,
                              const GradientReducer& reducer, const TrainConfig& cfg) {
  std::string problem;
  CheckpointInfo info;
  const auto views = opt.state();
  View1<float>::HostMirror params;
  std::vector<View1<float>::HostMirror> state;
  try {
    info = read_checkpoint_info(path);
    const std::string shape = shape_differences(info.config, cfg.model);
    if (!shape.empty()) throw Error(path + ": model shape differs from the deck's [model]: " + shape);
    if (info.optimizer_type != cfg.optimizer.type)
      throw Error(path + ": optimizer is " + info.optimizer_type + ", the deck says " + cfg.optimizer.type);
    params = Kokkos::create_mirror(model.params);
    std::vector<std::pair<std::string, float*>> buffers;
    for (const auto& [name, view] : views) {
      state.push_back(Kokkos::create_mirror(view));
      buffers.emplace_back(name, state.back().data());
    }
    read_checkpoint(path, model.layout(), params.data(), buffers, reducer.partition().begin, reducer.partition().end);
  } catch (const std::exception& e) {  // also the library's and the file system's: every rank must reach the vote
    problem = e.what();
  }
  if (failed_on_any_rank(MPI_COMM_WORLD, !problem.empty()))
    throw Error(problem.empty() ? path + ": damaged on another rank" : problem);
  Kokkos::deep_copy(model.params, params);
  for (std::size_t i = 0; i < views.size(); ++i) Kokkos::deep_copy(views[i].second, state[i]);
  return info.state;
}

std::string checkpoint_path(const std::string& dir, long step) {
  char name[32];
  std::snprintf(name, sizeof name, "ckpt_%08ld.h5", step);
  return (fs::path(dir) / name).string();
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const long step = step_of(entry.path().filename().string());
    if (step >= 0) found.emplace_back(step, entry.path().string());
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

void after_checkpoint(const std::string& dir, const std::string& newest, int keep_last, long keep_every) {
  const fs::path latest = fs::path(dir) / "latest", tmp = fs::path(dir) / "latest.tmp";
  std::ofstream out(tmp);
  out << fs::path(newest).filename().string() << "\n";
  out.close();
  std::error_code ec;
  if (out) {
    fs::rename(tmp, latest);
  } else {  // a full disk: `latest` keeps naming the previous checkpoint, which is complete too
    fs::remove(tmp, ec);
    std::fprintf(stderr, "sophia-kokkos: warning: cannot update %s (disk full?); it still names the checkpoint before\n",
                 latest.c_str());
  }
  int kept = 0;
  for (const auto& path : list_checkpoints(dir)) {
    const long step = step_of(fs::path(path).filename().string());
    if (kept++ < keep_last || (keep_every > 0 && step % keep_every == 0)) continue;
    fs::remove(path, ec);
  }
}

std::string choose_checkpoint(const std::string& resume, const std::string& dir,
                              const std::function<void(const std::string&)>& load, bool say) {
  if (resume != "auto") {
    load(resume);
    return resume;
  }
  for (const auto& path : list_checkpoints(dir)) {
    try {
      load(path);
      return path;
    } catch (const Error& e) {
      if (say) std::fprintf(stderr, "sophia-kokkos: warning: skipping damaged checkpoint: %s\n", e.what());
    }
  }
  return "";
}

}  // namespace sk
