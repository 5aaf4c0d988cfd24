#include "tokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "files.hpp"
#include "strict_json.hpp"

namespace sk {

namespace {

// GPT-2's pattern with \s spelled \p{White_Space}: PCRE2's \s would also take
// U+180E, which Python's `regex` module does not.
const char* const pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+)"
    R"(|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+)";

// Pieces seen so far are cached; past this many the cache starts afresh, which
// bounds its memory on large corpora.
constexpr std::size_t max_cached_pieces = std::size_t(1) << 20;

// GPT-2 writes every byte as a printable character: printable Latin-1 bytes as
// themselves, the others as code points 256, 257, ... in byte order.
// Returns, for each code point below 512, its byte, or -1.
std::vector<int> byte_of_code_point() {
  std::vector<int> byte(512, -1);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    byte[printable ? b : next++] = b;
  }
  return byte;
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error("cannot open tokenizer file " + path + ": " + std::strerror(ENOENT) +
                " (run scripts/fetch_data.sh, or give the folder holding encoder.json and vocab.bpe, or vocab.json and merges.txt,"
                " by --tokenizer or SOPHIA_KOKKOS_TOKENIZER)");
  return read_whole_file(path, "tokenizer file");
}

// The bytes a vocabulary entry stands for; empty if it has a character that
// stands for no byte.
std::string token_bytes(const std::string& token, const std::vector<int>& byte_of) {
  std::string bytes;
  for (std::size_t i = 0; i < token.size();) {
    const auto c = static_cast<unsigned char>(token[i]);
    int cp = -1;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < token.size()) {
      cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3F);
      i += 2;
    }
    if (cp < 0 || cp >= int(byte_of.size()) || byte_of[cp] < 0) return "";
    bytes += char(byte_of[cp]);
  }
  return bytes;
}

std::uint64_t pair_key(int left, int right) { return (std::uint64_t(std::uint32_t(left)) << 32) | std::uint32_t(right); }

}  // namespace

std::string tokenizer_dir(const std::string& explicit_dir) {
  if (!explicit_dir.empty()) return explicit_dir;
  const char* env = std::getenv("SOPHIA_KOKKOS_TOKENIZER");
  if (env && *env) return env;
  return "data/gpt2";
}

struct Gpt2Tokenizer::Impl {
  struct Merge {
    int rank, merged;
  };
  const std::vector<int> byte_of = byte_of_code_point();
  std::vector<std::string> bytes_of_id;
  int id_of_byte[256];
  std::unordered_map<std::uint64_t, Merge> merges;  // by pair_key(left id, right id)
  std::unordered_map<std::string, std::vector<int>> cache;
  pcre2_code* regex = nullptr;
  pcre2_match_data* match = nullptr;

  ~Impl() {
    pcre2_match_data_free(match);
    pcre2_code_free(regex);
  }

  void load_vocabulary(const std::string& path);
  void load_merges(const std::string& path);
  void compile_pattern();
  void append_piece(std::string_view piece, std::vector<int>& out);
};

void Gpt2Tokenizer::Impl::load_vocabulary(const std::string& path) {
  const nlohmann::json json = parse_json_strictly(read_file(path), "tokenizer file " + path);
  if (!json.is_object() || json.size() <= end_of_text)
    throw Error("tokenizer file " + path + " is not a GPT-2 vocabulary (an object of at least " +
                std::to_string(end_of_text + 1) + " token ids)");
  bytes_of_id.assign(json.size(), "");
  std::vector<bool> seen(json.size(), false);
  for (const auto& [token, value] : json.items()) {
    const long id = value.is_number_integer() ? value.get<long>() : -1;
    if (id < 0 || id >= long(json.size()) || seen[id])
      throw Error("tokenizer file " + path + ": token '" + token + "' has a missing, repeated or out-of-range id");
    seen[id] = true;
    bytes_of_id[id] = token_bytes(token, byte_of);
    if (bytes_of_id[id].empty())
      throw Error("tokenizer file " + path + ": token '" + token + "' is not in GPT-2's byte encoding");
  }
  if (bytes_of_id[end_of_text] != "<|endoftext|>")
    throw Error("tokenizer file " + path + ": id " + std::to_string(end_of_text) + " is not <|endoftext|>");
  std::fill(std::begin(id_of_byte), std::end(id_of_byte), -1);
  for (std::size_t id = 0; id < bytes_of_id.size(); ++id)
    if (bytes_of_id[id].size() == 1) id_of_byte[static_cast<unsigned char>(bytes_of_id[id][0])] = int(id);
  for (int b = 0; b < 256; ++b)
    if (id_of_byte[b] < 0) throw Error("tokenizer file " + path + " has no token for byte " + std::to_string(b));
}

void Gpt2Tokenizer::Impl::load_merges(const std::string& path) {
  // Merges join two entries' strings, so they are looked up by those strings.
  std::unordered_map<std::string, int> id_of_bytes;
  for (std::size_t id = 0; id < bytes_of_id.size(); ++id) id_of_bytes.emplace(bytes_of_id[id], int(id));
  std::istringstream lines(read_file(path));
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const auto space = line.find(' ');
    const std::string left = token_bytes(line.substr(0, space), byte_of);
    const std::string right = space == std::string::npos ? "" : token_bytes(line.substr(space + 1), byte_of);
    const auto l = id_of_bytes.find(left), r = id_of_bytes.find(right), m = id_of_bytes.find(left + right);
    if (left.empty() || right.empty() || l == id_of_bytes.end() || r == id_of_bytes.end() || m == id_of_bytes.end())
      throw Error("tokenizer file " + path + " line " + std::to_string(number) + " is not a merge of two tokens of the vocabulary");
    merges.emplace(pair_key(l->second, r->second), Merge{int(merges.size()), m->second});
  }
}

void Gpt2Tokenizer::Impl::compile_pattern() {
  int code = 0;
  PCRE2_SIZE offset = 0;
  // MATCH_INVALID_UTF: invalid UTF-8 is skipped over by matches instead of failing them.
  regex = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &offset, nullptr);
  if (!regex) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(code, message, sizeof message);
    throw Error(std::string("tokenizer pattern does not compile with this PCRE2: ") + reinterpret_cast<char*>(message));
  }
  // Without JIT support matching still works, only slower.
  pcre2_jit_compile(regex, PCRE2_JIT_COMPLETE);
  match = pcre2_match_data_create_from_pattern(regex, nullptr);
}

void Gpt2Tokenizer::Impl::append_piece(std::string_view piece, std::vector<int>& out) {
  std::string key(piece);
  auto cached = cache.find(key);
  if (cached == cache.end()) {
    std::vector<int> word;
    for (char c : piece) word.push_back(id_of_byte[static_cast<unsigned char>(c)]);
    // GPT-2's order: merge the lowest-ranked adjacent pair everywhere, left to right, until none is left.
    while (word.size() > 1) {
      const Merge* best = nullptr;
      int left = 0, right = 0;
      for (std::size_t i = 0; i + 1 < word.size(); ++i) {
        const auto m = merges.find(pair_key(word[i], word[i + 1]));
        if (m != merges.end() && (!best || m->second.rank < best->rank)) {
          best = &m->second;
          left = word[i];
          right = word[i + 1];
        }
      }
      if (!best) break;
      std::size_t n = 0;
      for (std::size_t i = 0; i < word.size(); ++i) {
        const bool join = i + 1 < word.size() && word[i] == left && word[i + 1] == right;
        word[n++] = join ? best->merged : word[i];
        i += join;
      }
      word.resize(n);
    }
    if (cache.size() >= max_cached_pieces) cache.clear();
    cached = cache.emplace(std::move(key), std::move(word)).first;
  }
  out.insert(out.end(), cached->second.begin(), cached->second.end());
}

TokenizerFiles tokenizer_files(const std::string& dir) {
  const std::filesystem::path d(dir);
  std::error_code ec;
  if (!std::filesystem::exists(d / "encoder.json", ec) && std::filesystem::exists(d / "vocab.json", ec))
    return {(d / "vocab.json").string(), (d / "merges.txt").string()};
  return {(d / "encoder.json").string(), (d / "vocab.bpe").string()};
}

Gpt2Tokenizer::Gpt2Tokenizer(const std::string& dir) : impl_(std::make_unique<Impl>()) {
  const TokenizerFiles files = tokenizer_files(dir);
  impl_->load_vocabulary(files.vocabulary);
  impl_->load_merges(files.merges);
  impl_->compile_pattern();
}

Gpt2Tokenizer::~Gpt2Tokenizer() = default;

std::vector<int> Gpt2Tokenizer::encode(std::string_view text) {
  std::vector<int> ids;
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(impl_->match);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(impl_->regex, subject, text.size(), pos, 0, impl_->match, nullptr);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      throw Error("tokenizer: matching failed at byte " + std::to_string(pos) + ": " + reinterpret_cast<char*>(message));
    }
    const std::size_t start = rc < 0 ? text.size() : ovector[0], end = rc < 0 ? text.size() : ovector[1];
    // Bytes the pattern skipped are invalid UTF-8; they form a piece of their own.
    if (start > pos) impl_->append_piece(text.substr(pos, start - pos), ids);
    if (end > start) impl_->append_piece(text.substr(start, end - start), ids);
    pos = end;
  }
  return ids;
}

std::vector<int> Gpt2Tokenizer::encode_document(std::string_view text) {
  std::vector<int> ids = {end_of_text};
  const std::vector<int> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

std::string Gpt2Tokenizer::decode(const std::vector<int>& ids) const {
  std::string text;
  for (const int id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("token id " + std::to_string(id) + " is not in the vocabulary (0 to " + std::to_string(vocab_size() - 1) + ")");
    text += impl_->bytes_of_id[id];
  }
  return text;
}

std::string Gpt2Tokenizer::id_bytes(int id) const {
  return id >= 0 && id < vocab_size() ? impl_->bytes_of_id[id] : "\xEF\xBF\xBD";
}

std::string Gpt2Tokenizer::decode_text(const std::vector<int>& ids) const {
  std::string bytes;
  for (const int id : ids) bytes += id_bytes(id);
  return replace_invalid_utf8(bytes);
}

namespace {

// Length of the well-formed UTF-8 prefix of the character starting at s[0]
// (Unicode's table of well-formed byte sequences), and whether it is whole.
std::pair<std::size_t, bool> utf8_prefix(std::string_view s) {
  const unsigned char b0 = s[0];
  if (b0 < 0x80) return {1, true};
  int need;                     // continuation bytes
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the first continuation byte
  if (b0 >= 0xC2 && b0 <= 0xDF) need = 1;
  else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {1, false};
  }
  std::size_t n = 1;
  for (int k = 0; k < need; ++k, lo = 0x80, hi = 0xBF) {
    if (n >= s.size()) return {n, false};
    const unsigned char b = s[n];
    if (b < lo || b > hi) return {n, false};
    ++n;
  }
  return {n, true};
}

}  // namespace

std::string replace_invalid_utf8(std::string_view bytes) {
  std::string text;
  text.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    const auto [n, whole] = utf8_prefix(bytes.substr(i));
    if (whole) text.append(bytes.substr(i, n));
    else text += "\xEF\xBF\xBD";  // U+FFFD
    i += n;
  }
  return text;
}

std::size_t utf8_settled_length(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto [n, whole] = utf8_prefix(bytes.substr(i));
    const unsigned char lead = bytes[i];
    // Cut off by the end after a lead byte and only fitting continuations.
    if (!whole && i + n == bytes.size() && lead >= 0xC2 && lead <= 0xF4) break;
    i += n;
  }
  return i;
}

std::string TextStream::add(int id) {
  pending_ += tokenizer_.id_bytes(id);
  const std::size_t n = utf8_settled_length(pending_);
  std::string text = replace_invalid_utf8(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return text;
}

std::string TextStream::finish() {
  std::string text = replace_invalid_utf8(pending_);
  pending_.clear();
  return text;
}

int Gpt2Tokenizer::vocab_size() const { return int(impl_->bytes_of_id.size()); }

}  // namespace sk
