#include "checkpoint_policy.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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

void save_checkpoint(const std::string& path, const CheckpointTarget& target, const TrainingState& state) {
  HostState host(target.model, target.optimizer);
  Kokkos::deep_copy(host.params, target.model.params);
  const Partition part = target.reducer.partition();
  CheckpointData data{host.params.data(), target.optimizer_type, {}, part.begin, part.end,
                      target.reducer.partitioned(), state};
  auto views = target.optimizer.state();
  for (std::size_t i = 0; i < views.size(); ++i) {
    Kokkos::deep_copy(host.optimizer[i].second, views[i].second);
    data.optimizer_state.emplace_back(views[i].first, host.optimizer[i].second.data());
  }
  write_checkpoint(path, target.model.config(), target.model.layout(), data);
}

std::string counter_problems(const TrainingState& state, long steps) {
  const long step = long(state.step);
  const unsigned long position = static_cast<unsigned long>(state.data_position);
  if (step < 0) return "step " + std::to_string(step) + " is negative";
  if (step > steps)
    return "step " + std::to_string(step) + " is past the deck's train.steps = " + std::to_string(steps) +
           " (raise train.steps to continue it)";
  if (position < static_cast<unsigned long>(step) || (step == 0 && position > 0))
    return "data position " + std::to_string(position) + " sequences does not fit step " + std::to_string(step) +
           " (each step consumes at least one sequence, none are consumed before the first)";
  return "";
}

namespace {

// Throws CheckpointMismatch if a checkpoint with this header does not fit
// the target and a run of `steps` steps.
void check_fits(const std::string& path, const CheckpointInfo& info, const CheckpointTarget& target, long steps) {
  const std::string shape = shape_differences(info.config, target.model.config());
  if (!shape.empty()) throw CheckpointMismatch(path + ": model shape differs from the deck's [model]: " + shape);
  if (info.optimizer_type != target.optimizer_type)
    throw CheckpointMismatch(path + ": optimizer is " + name_of(info.optimizer_type) + ", the deck says " +
                             name_of(target.optimizer_type));
  const std::string counters = counter_problems(info.state, steps);
  if (!counters.empty()) throw CheckpointMismatch(path + ": /state: " + counters);
}

// Every rank's vote on `problem` (empty: none): throws the problem, or that
// of another rank, if any rank has one.
void agree(const std::string& problem, const std::string& path) {
  if (failed_on_any_rank(MPI_COMM_WORLD, !problem.empty()))
    throw Error(problem.empty() ? path + ": damaged on another rank" : problem);
}

}  // namespace

// Loads a checkpoint into the model and optimizer after checking that it
// fits the deck; the loading is also the verification of every checksum. The
// file is read into staging copies (never into the model: on host backends a
// mirror view would be the model's own memory) and the ranks agree on the
// outcome before any rank commits, so a file damaged only in one rank's partition
// is refused everywhere and leaves every rank's state as it was. The header
// is voted on first: every rank that read it judges the fit alike.
TrainingState load_checkpoint(const std::string& path, const CheckpointTarget& target, long steps) {
  std::string problem;
  CheckpointInfo info;
  try {
    info = read_checkpoint_info(path);
  } catch (const std::exception& e) {  // also the library's and the file system's: every rank must reach the vote
    problem = e.what();
  }
  agree(problem, path);
  check_fits(path, info, target, steps);
  const auto views = target.optimizer.state();
  View1<float>::HostMirror params;
  std::vector<View1<float>::HostMirror> state;
  try {
    params = Kokkos::create_mirror(target.model.params);
    std::vector<std::pair<std::string, float*>> buffers;
    for (const auto& [name, view] : views) {
      state.push_back(Kokkos::create_mirror(view));
      buffers.emplace_back(name, state.back().data());
    }
    const Partition part = target.reducer.partition();
    read_checkpoint(path, target.model.layout(), params.data(), buffers, part.begin, part.end);
  } catch (const std::exception& e) {
    problem = e.what();
  }
  agree(problem, path);
  Kokkos::deep_copy(target.model.params, params);
  for (std::size_t i = 0; i < views.size(); ++i) Kokkos::deep_copy(views[i].second, state[i]);
  return info.state;
}

bool save_run_checkpoint(const CheckpointConfig& config, const std::string& dir, const CheckpointTarget& target,
                         const TrainingState& state, bool root) {
  const std::string path = checkpoint_path(dir, long(state.step));
  std::string problem;
  try {
    save_checkpoint(path, target, state);
    if (root) after_checkpoint(dir, path, config.keep_last, config.keep_every);
  } catch (const std::exception& e) {  // also the file system's, e.g. from the folder's `latest`
    problem = e.what();
  }
  if (!failed_on_any_rank(MPI_COMM_WORLD, !problem.empty())) {
    if (root) {
      std::printf("checkpoint: %s\n", path.c_str());
      std::fflush(stdout);  // a batch log shows each checkpoint once it is complete
    }
    return true;
  }
  if (root)  // the writing's errors reach every rank alike (io/checkpoint_writer.cpp); rank 0 says them
    std::fprintf(stderr, "sophia-kokkos: checkpoint failed: %s\n", problem.empty() ? "on another rank" : problem.c_str());
  return config.continue_on_failure;
}

std::string resume_run(const std::string& resume, const std::string& dir, const CheckpointTarget& target, long steps,
                       TrainingState& state, bool root) {
  if (resume.empty()) return "";
  if (resume != "auto") {
    state = load_checkpoint(resume, target, steps);
    return resume;
  }
  for (const auto& path : list_checkpoints(dir)) {
    try {
      state = load_checkpoint(path, target, steps);
      return path;
    } catch (const CheckpointMismatch&) {  // the deck, not the file: an older one would not fit better
      throw;
    } catch (const Error& e) {
      if (root) std::fprintf(stderr, "sophia-kokkos: warning: skipping damaged checkpoint: %s\n", e.what());
    }
  }
  return "";  // the caller says "starting fresh" once the output folder is its to write
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

namespace {

// Files in dir that hold a run's results: its metrics (an empty file has
// none), final weights, checkpoints.
std::vector<std::string> run_files(const std::string& dir) {
  std::vector<std::string> found = list_checkpoints(dir);
  std::error_code ec;
  const fs::path metrics = fs::path(dir) / "metrics.jsonl", final_weights = fs::path(dir) / "final.h5";
  if (fs::file_size(metrics, ec) > 0 && !ec) found.push_back(metrics.string());
  if (fs::exists(final_weights, ec)) found.push_back(final_weights.string());
  return found;
}

bool same_folder(const std::string& file, const std::string& dir) {
  std::error_code ec;
  const fs::path parent = fs::path(file).parent_path();
  return fs::equivalent(parent.empty() ? fs::path(".") : parent, dir, ec);
}

// `--resume auto` found no checkpoint it could load in dir, which holds an
// unfinished run that this one repeats: one whose checkpoints are all damaged,
// or one with this run's deck (stopped before its first checkpoint, e.g. a
// job chain's first link killed early).
bool restarts_unfinished_run(const std::string& dir, const std::string& toml) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "final.h5", ec)) return false;
  if (!list_checkpoints(dir).empty()) return true;
  std::ifstream in(fs::path(dir) / "config.toml");
  std::ostringstream recorded;
  recorded << in.rdbuf();
  return in.is_open() && recorded.str() == toml;
}

}  // namespace

void claim_output_dir(const std::string& dir, const std::string& resumed_from, const std::string& resume,
                      const std::string& toml, bool overwrite) {
  if (!resumed_from.empty() && same_folder(resumed_from, dir)) return;  // continuing that run
  if (resume == "auto" && resumed_from.empty() && restarts_unfinished_run(dir, toml)) return;
  const std::vector<std::string> earlier = run_files(dir);
  if (earlier.empty()) return;
  if (!overwrite)
    throw Error("output folder " + dir + " holds another run (" + fs::path(earlier.front()).filename().string() +
                (earlier.size() > 1 ? " and " + std::to_string(earlier.size() - 1) + " more" : "") +
                "); give a new output.dir, or replace that run with train --overwrite" +
                (list_checkpoints(dir).empty() ? "" : ", or continue it with --resume auto"));
  std::error_code ec;
  for (const auto& path : list_checkpoints(dir)) fs::remove(path, ec);
  fs::remove(fs::path(dir) / "latest", ec);
}

}  // namespace sk
