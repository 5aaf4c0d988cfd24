// Token files in the llm.c format: a header of 256 little-endian int32
// (magic 20240520, version 1, token count, then zeros) and the tokens as
// little-endian uint16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sk {

constexpr std::int32_t token_file_magic = 20240520;
constexpr std::int32_t token_file_version = 1;
constexpr std::size_t token_header_bytes = 256 * sizeof(std::int32_t);

// The token count of a token file whose first bytes are `head` (read only if
// file_size covers the header), after checking the header and that the body
// holds that many tokens. Throws sk::Error naming `path` otherwise.
std::size_t check_token_header(const std::string& path, const void* head, std::size_t file_size);

// The token count in a token file's header, after checking the header and
// that the body holds that many tokens. Throws sk::Error otherwise.
std::size_t token_count(const std::string& path);

// `count` tokens of a token file from token `first` on. Throws sk::Error when
// the file is missing, is not a token file, is truncated, or holds fewer tokens.
std::vector<std::uint16_t> read_tokens(const std::string& path, std::size_t count, std::size_t first = 0);

// Throws sk::Error naming the first token id >= vocab_size.
void check_token_range(const std::vector<std::uint16_t>& tokens, int vocab_size, const std::string& path);

void write_tokens(const std::string& path, const std::vector<std::uint16_t>& tokens);

}  // namespace sk
