// GPT-2's byte-level BPE tokenizer, read from OpenAI's encoder.json (token
// string -> id) and vocab.bpe (merges, highest priority first), or from the
// same files under Hugging Face's names, vocab.json and merges.txt.
//
// Text is split into pieces by GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \s meaning Unicode White_Space, as in the Python `regex` module GPT-2
// used; each piece's bytes are then merged by rank. Differences from GPT-2:
//   - bytes that are not valid UTF-8 (which GPT-2, taking Unicode strings,
//     never sees) match no alternative; each run of them becomes a piece of its
//     own, so every byte is encoded and decode(encode(s)) == s for any bytes;
//   - letters and digits are those of PCRE2's Unicode tables (Unicode 14 in
//     PCRE2 10.42), so code points assigned later count as neither.
// "<|endoftext|>" in the text is encoded as ordinary text, as by GPT-2's
// encoder; the end_of_text token is only ever placed explicitly.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sk {

// The tokenizer folder: `explicit_dir` if not empty, else the environment
// variable SOPHIA_KOKKOS_TOKENIZER if set and not empty, else data/gpt2
// (relative to the working directory), where scripts/fetch_data.sh puts it.
std::string tokenizer_dir(const std::string& explicit_dir = "");

// `bytes` with each maximal ill-formed subsequence replaced by U+FFFD, as
// Unicode recommends and Python's decode(errors="replace") does, which is how
// GPT-2's decoder turns tokens into text.
std::string replace_invalid_utf8(std::string_view bytes);

// The two files of a tokenizer folder: OpenAI's names, or Hugging Face's
// where the folder has vocab.json and no encoder.json.
struct TokenizerFiles {
  std::string vocabulary, merges;
};
TokenizerFiles tokenizer_files(const std::string& dir);

// The length of the longest prefix of `bytes` that replace_invalid_utf8 turns
// into the same text as it turns the prefix's part of any longer string into:
// all of `bytes` but a trailing character that later bytes could still complete.
std::size_t utf8_settled_length(std::string_view bytes);

class Gpt2Tokenizer {
 public:
  static constexpr int end_of_text = 50256;

  // Reads DIR/encoder.json and DIR/vocab.bpe (or, where there is no
  // encoder.json, DIR/vocab.json and DIR/merges.txt: a Hugging Face folder);
  // throws sk::Error when a file is missing or malformed.
  explicit Gpt2Tokenizer(const std::string& dir);
  ~Gpt2Tokenizer();
  Gpt2Tokenizer(const Gpt2Tokenizer&) = delete;
  Gpt2Tokenizer& operator=(const Gpt2Tokenizer&) = delete;

  // Not thread-safe: encoding reuses match buffers and a cache of pieces.
  std::vector<int> encode(std::string_view text);
  // A document as prepare writes it into shards: <|endoftext|>, then the text's tokens.
  std::vector<int> encode_document(std::string_view text);
  // The bytes of the tokens; throws sk::Error for an id outside the vocabulary.
  std::string decode(const std::vector<int>& ids) const;
  // The same as text: bytes that are not valid UTF-8 (a character split
  // between tokens, or cut off at the end) become U+FFFD, and so do ids
  // outside the vocabulary (a model's vocabulary may be padded beyond it).
  std::string decode_text(const std::vector<int>& ids) const;
  // The bytes of one token; U+FFFD's for an id outside the vocabulary.
  std::string id_bytes(int id) const;
  int vocab_size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Text as tokens arrive, for printing while a sample is generated: each
// add() returns the text that is settled, holding back a character whose
// bytes are split between tokens until it completes. The concatenation of
// add()'s and finish()'s text equals decode_text of all the tokens.
class TextStream {
 public:
  explicit TextStream(const Gpt2Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string add(int id);
  // What is held back, as decode_text would end it.
  std::string finish();

 private:
  const Gpt2Tokenizer& tokenizer_;
  std::string pending_;  // bytes of a character not yet complete
};

}  // namespace sk
