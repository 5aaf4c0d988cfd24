#include "checkpointing.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

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
}  // namespace

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
  std::ofstream(tmp) << fs::path(newest).filename().string() << "\n";
  fs::rename(tmp, latest);
  int kept = 0;
  for (const auto& path : list_checkpoints(dir)) {
    const long step = step_of(fs::path(path).filename().string());
    if (kept++ < keep_last || (keep_every > 0 && step % keep_every == 0)) continue;
    std::error_code ec;
    fs::remove(path, ec);
  }
}

std::string choose_checkpoint(const std::string& resume, const std::string& dir,
                              const std::function<void(const std::string&)>& verify, bool say) {
  if (resume != "auto") {
    verify(resume);
    return resume;
  }
  for (const auto& path : list_checkpoints(dir)) {
    try {
      verify(path);
      return path;
    } catch (const Error& e) {
      if (say) std::fprintf(stderr, "sophia-kokkos: warning: skipping damaged checkpoint: %s\n", e.what());
    }
  }
  return "";
}

}  // namespace sk
