#include "tokens.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "error.hpp"
#include "files.hpp"

namespace sk {

namespace {
constexpr std::size_t header_ints = token_header_bytes / sizeof(std::int32_t);
constexpr std::size_t header_bytes = token_header_bytes;

// Opens a token file and checks its header against the file size; returns the
// stream positioned at the first token.
std::ifstream open_tokens(const std::string& path, std::size_t& stored) {
  require_regular_file(path, "token file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open token file " + path + ": " + std::strerror(errno));
  const std::size_t file_size = std::size_t(in.tellg());
  in.seekg(0);
  std::int32_t header[header_ints] = {};
  if (file_size >= header_bytes) in.read(reinterpret_cast<char*>(header), header_bytes);
  stored = check_token_header(path, header, file_size);
  return in;
}
}  // namespace

std::size_t check_token_header(const std::string& path, const void* head, std::size_t file_size) {
  if (file_size < header_bytes)
    throw Error("token file " + path + " is truncated: " + std::to_string(file_size) +
                " bytes, shorter than its 1024-byte header");
  std::int32_t header[3];
  std::memcpy(header, head, sizeof header);
  if (header[0] != token_file_magic)
    throw Error("token file " + path + " has bad magic " + std::to_string(header[0]) + " (expected " +
                std::to_string(token_file_magic) + "): not a token file");
  if (header[1] != token_file_version)
    throw Error("token file " + path + " has unsupported version " + std::to_string(header[1]));
  if (header[2] < 0) throw Error("token file " + path + " has a negative token count");
  const std::size_t stored = std::size_t(header[2]);
  const std::size_t body = (file_size - header_bytes) / sizeof(std::uint16_t);
  if (body < stored)
    throw Error("token file " + path + " is truncated: header says " + std::to_string(stored) + " tokens, body holds " +
                std::to_string(body));
  return stored;
}

std::size_t token_count(const std::string& path) {
  std::size_t stored = 0;
  open_tokens(path, stored);
  return stored;
}

std::vector<std::uint16_t> read_tokens(const std::string& path, std::size_t count, std::size_t first) {
  std::size_t stored = 0;
  std::ifstream in = open_tokens(path, stored);
  if (stored < first + count)
    throw Error("token file " + path + " has " + std::to_string(stored) + " tokens, " + std::to_string(first + count) +
                " are needed");
  in.seekg(std::streamoff(header_bytes + first * sizeof(std::uint16_t)));
  std::vector<std::uint16_t> tokens(count);
  in.read(reinterpret_cast<char*>(tokens.data()), count * sizeof(std::uint16_t));
  if (!in) throw Error("cannot read token file " + path);
  return tokens;
}

void check_token_range(const std::vector<std::uint16_t>& tokens, int vocab_size, const std::string& path) {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] >= vocab_size)
      throw Error("token file " + path + ": token " + std::to_string(i) + " has id " + std::to_string(tokens[i]) +
                  ", not below vocab_size " + std::to_string(vocab_size));
}

void write_tokens(const std::string& path, const std::vector<std::uint16_t>& tokens) {
  std::int32_t header[header_ints] = {token_file_magic, token_file_version, std::int32_t(tokens.size())};
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header), header_bytes);
  out.write(reinterpret_cast<const char*>(tokens.data()), tokens.size() * sizeof(std::uint16_t));
  if (!out) throw Error("cannot write token file " + path);
}

}  // namespace sk
