#include "shards.hpp"

#include <glob.h>

#include <algorithm>

#include "../src/error.hpp"
#include "tokens.hpp"

namespace sk {

namespace {
std::vector<std::string> expand(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> paths;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  std::sort(paths.begin(), paths.end());
  return paths;
}
}  // namespace

TokenShards::TokenShards(const std::string& pattern, int T, int vocab_size)
    : pattern_(pattern), T_(T), vocab_size_(vocab_size) {
  const auto paths = expand(pattern);
  if (paths.empty()) throw Error("no token shards match " + pattern);
  for (const auto& path : paths) {
    const std::uint64_t n = token_count(path);
    if (n == 0) throw Error("token shard " + path + " is empty");
    shards_.push_back({path, n, total_windows_});
    total_windows_ += n > 0 ? (n - 1) / T : 0;
    total_tokens_ += n;
  }
}

void TokenShards::read_window(std::uint64_t w, std::uint16_t* out) const {
  // The last shard whose first window is <= w holds it.
  auto it = std::upper_bound(shards_.begin(), shards_.end(), w,
                             [](std::uint64_t v, const Shard& s) { return v < s.first_window; });
  const Shard& s = *(it - 1);
  const std::size_t first = std::size_t(w - s.first_window) * T_;
  const auto tokens = read_tokens(s.path, std::size_t(T_) + 1, first);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= vocab_size_)
      throw Error("token shard " + s.path + ": token " + std::to_string(first + i) + " has id " +
                  std::to_string(tokens[i]) + ", not below the model's vocab_size " + std::to_string(vocab_size_));
    out[i] = tokens[i];
  }
}

}  // namespace sk
