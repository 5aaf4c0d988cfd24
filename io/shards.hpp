// Training data as token shards (llm.c format, see io/tokens.hpp), cut into
// windows of T+1 tokens: window w gives the inputs tokens[s, s+T) and the
// targets tokens[s+1, s+T+1), with s = w*T in its shard: consecutive windows
// share one token (the last target of one is the first input of the next), so
// no token is left out. Windows do not cross shard boundaries. Each shard is memory-mapped read-only once, when the set is opened,
// and validated then; the page cache pages it in on demand, so data sets
// larger than memory work and reading a window costs no system call.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sk {

class TokenShards {
 public:
  // `pattern` is a path or a glob; shards are taken in sorted order. Throws
  // sk::Error when nothing matches or a shard is malformed or empty.
  TokenShards(const std::string& pattern, int T, int vocab_size);
  // One shard held in memory, `name` in messages; throws sk::Error when empty.
  TokenShards(const std::string& name, std::vector<std::uint16_t> tokens, int T, int vocab_size);
  ~TokenShards();
  TokenShards(const TokenShards&) = delete;
  TokenShards& operator=(const TokenShards&) = delete;

  std::uint64_t windows() const { return total_windows_; }
  std::uint64_t tokens() const { return total_tokens_; }
  std::size_t files() const { return shards_.size(); }
  const std::string& pattern() const { return pattern_; }

  // Window w's T+1 tokens, in the mapping (valid while this object lives);
  // throws sk::Error naming the shard and position of a token id >= vocab_size.
  const std::uint16_t* window(std::uint64_t w) const;
  // The same, copied to out.
  void read_window(std::uint64_t w, std::uint16_t* out) const;

 private:
  struct Shard {
    std::string path;
    std::uint64_t tokens, first_window;
    void* map;               // the whole file as mapped
    std::size_t map_bytes;
    const std::uint16_t* body;  // its first token
  };
  std::string pattern_;
  int T_, vocab_size_;
  std::vector<Shard> shards_;
  std::vector<std::uint16_t> held_;  // the tokens of a shard held in memory
  std::uint64_t total_windows_ = 0, total_tokens_ = 0;
};

}  // namespace sk
