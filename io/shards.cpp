#include "shards.hpp"

#include <fcntl.h>
#include <glob.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "error.hpp"
#include "files.hpp"
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

// Maps a whole file read-only; the descriptor is not needed afterwards.
void* map_file(const std::string& path, std::size_t& bytes) {
  require_regular_file(path, "token file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open token file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw Error("cannot open token file " + path + ": " + std::strerror(e));
  }
  bytes = std::size_t(st.st_size);
  void* map = nullptr;
  if (bytes > 0) {
    map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      throw Error("cannot map token file " + path + ": " + std::strerror(e));
    }
  }
  ::close(fd);
  return map;
}
}  // namespace

TokenShards::TokenShards(const std::string& pattern, int T, int vocab_size)
    : pattern_(pattern), T_(T), vocab_size_(vocab_size) {
  const auto paths = expand(pattern);
  if (paths.empty()) throw Error("no token shards match " + pattern);
  try {
    for (const auto& path : paths) {
      std::size_t bytes = 0;
      void* map = map_file(path, bytes);
      shards_.push_back({path, 0, total_windows_, map, bytes, nullptr});
      // The checks of token_count; a file shrunk after this would fault on
      // access (SIGBUS), as reading a file being rewritten is undefined anyway.
      const std::uint64_t n = check_token_header(path, map, bytes);
      if (n == 0) throw Error("token shard " + path + " is empty");
      shards_.back().tokens = n;
      shards_.back().body = reinterpret_cast<const std::uint16_t*>(static_cast<const char*>(map) + token_header_bytes);
      total_windows_ += (n - 1) / T;
      total_tokens_ += n;
    }
  } catch (...) {
    for (auto& s : shards_)
      if (s.map) ::munmap(s.map, s.map_bytes);
    throw;
  }
}

TokenShards::TokenShards(const std::string& name, std::vector<std::uint16_t> tokens, int T, int vocab_size)
    : pattern_(name), T_(T), vocab_size_(vocab_size), held_(std::move(tokens)) {
  if (held_.empty()) throw Error("token shard " + name + " is empty");
  shards_.push_back({name, held_.size(), 0, nullptr, 0, held_.data()});
  total_windows_ = (held_.size() - 1) / T;
  total_tokens_ = held_.size();
}

TokenShards::~TokenShards() {
  for (auto& s : shards_)
    if (s.map) ::munmap(s.map, s.map_bytes);
}

const std::uint16_t* TokenShards::window(std::uint64_t w) const {
  // The last shard whose first window is <= w holds it.
  auto it = std::upper_bound(shards_.begin(), shards_.end(), w,
                             [](std::uint64_t v, const Shard& s) { return v < s.first_window; });
  const Shard& s = *(it - 1);
  const std::size_t first = std::size_t(w - s.first_window) * T_;
  const std::uint16_t* tokens = s.body + first;
  for (int i = 0; i <= T_; ++i)
    if (tokens[i] >= vocab_size_)
      throw Error("token shard " + s.path + ": token " + std::to_string(first + i) + " has id " +
                  std::to_string(tokens[i]) + ", not below the model's vocab_size " + std::to_string(vocab_size_));
  return tokens;
}

void TokenShards::read_window(std::uint64_t w, std::uint16_t* out) const {
  std::memcpy(out, window(w), (std::size_t(T_) + 1) * sizeof(std::uint16_t));
}

}  // namespace sk
