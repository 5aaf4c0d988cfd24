// GPT-2 tokenizer: ids of the JavaScript reference encoder (tokenizer/pairs.json,
// made by tokenizer/make_pairs.js), GPT-2's whitespace where JavaScript's differs,
// bytes that are not UTF-8, and errors.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tokenizer.hpp"
#include "error.hpp"

using namespace sk;

namespace {

bool have_vocabulary() { return std::ifstream(SK_TOKENIZER_DIR "/encoder.json").good(); }

// One tokenizer for all tests: loading it takes a moment.
Gpt2Tokenizer& tokenizer() {
  static Gpt2Tokenizer t(SK_TOKENIZER_DIR);
  return t;
}

std::vector<int> concat(std::initializer_list<std::vector<int>> parts) {
  std::vector<int> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

}  // namespace

// Without the vocabulary (scripts/fetch_data.sh fetches it) these tests pass
// vacuously; CTest's tokenizer_vocabulary test then shows as skipped.
#define SKIP_WITHOUT_VOCABULARY()                                                                 \
  if (!have_vocabulary()) {                                                                       \
    WARN("SKIPPED: no GPT-2 vocabulary in " SK_TOKENIZER_DIR "; run scripts/fetch_data.sh");      \
    return;                                                                                       \
  }

TEST_CASE("tokenizer matches the reference encoder on every pair", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  std::ifstream in(SK_TOKENIZER_PAIRS);
  REQUIRE(in);
  const auto pairs = nlohmann::json::parse(in);
  REQUIRE(pairs.size() > 50);
  for (const auto& pair : pairs) {
    const std::string text = pair["text"];
    const std::vector<int> ids = pair["ids"];
    INFO("text: " << pair["text"].dump());
    CHECK(tokenizer().encode(text) == ids);
    CHECK(tokenizer().decode(ids) == text);
  }
}

TEST_CASE("tokenizer splits on Unicode White_Space as GPT-2 does", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  auto& t = tokenizer();
  // U+0085 is White_Space: " " goes on its own, since a run of spaces leaves its
  // last one to the word after it. (JavaScript's \s lacks U+0085.)
  CHECK(t.encode("a \u0085b") == concat({t.encode("a"), t.encode(" "), t.encode("\u0085"), t.encode("b")}));
  // U+180E and U+FEFF are not: they join the space before them as punctuation.
  // (PCRE2's \s takes U+180E, JavaScript's U+FEFF.)
  CHECK(t.encode("a \u180eb") == concat({t.encode("a"), t.encode(" \u180e"), t.encode("b")}));
  CHECK(t.encode("a \ufeffb") == concat({t.encode("a"), t.encode(" \ufeff"), t.encode("b")}));
  // The cases tell the splits apart.
  CHECK(t.encode(" \u180e") != concat({t.encode(" "), t.encode("\u180e")}));
  CHECK(t.encode(" \ufeff") != concat({t.encode(" "), t.encode("\ufeff")}));
}

TEST_CASE("tokenizer encodes bytes that are not UTF-8 and decodes them back", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  auto& t = tokenizer();
  const std::vector<std::string> texts = {"\xff", "\xff\xfe text", "truncated \xc3", "\xc3(", "surrogate \xed\xa0\x80!",
                                         "overlong \xc0\xaf", std::string("nul\0\x80", 5), "latin-1 caf\xe9"};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    INFO("text " << i);
    CHECK(t.decode(t.encode(texts[i])) == texts[i]);
  }
  // Invalid bytes do not disturb the valid text around them.
  CHECK(t.encode("word\xffword") == concat({t.encode("word"), t.encode("\xff"), t.encode("word")}));
}

TEST_CASE("tokenizer keeps <|endoftext|> in text as text", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  auto& t = tokenizer();
  CHECK(t.vocab_size() == 50257);
  CHECK(t.decode({Gpt2Tokenizer::end_of_text}) == "<|endoftext|>");
  CHECK(t.encode("<|endoftext|>").size() > 1);
}

TEST_CASE("tokenizer refuses ids outside the vocabulary", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  // As text, they show as U+FFFD: a model's vocabulary may be padded to 50304.
  CHECK(tokenizer().decode_text({464, 50303, 50256}) == "The\xEF\xBF\xBD<|endoftext|>");
  CHECK_THROWS_WITH(tokenizer().decode({50257}), "token id 50257 is not in the vocabulary (0 to 50256)");
  CHECK_THROWS_WITH(tokenizer().decode({-1}), "token id -1 is not in the vocabulary (0 to 50256)");
}

TEST_CASE("tokenizer folder: argument, then environment, then data/gpt2", "[tokenizer]") {
  const char* saved = std::getenv("SOPHIA_KOKKOS_TOKENIZER");
  const std::string restore = saved ? saved : "";
  ::setenv("SOPHIA_KOKKOS_TOKENIZER", "/from/env", 1);
  CHECK(tokenizer_dir("/given") == "/given");
  CHECK(tokenizer_dir() == "/from/env");
  ::unsetenv("SOPHIA_KOKKOS_TOKENIZER");
  CHECK(tokenizer_dir() == "data/gpt2");
  if (saved) ::setenv("SOPHIA_KOKKOS_TOKENIZER", restore.c_str(), 1);
}

TEST_CASE("tokenizer names a missing file and how to get it", "[tokenizer]") {
  CHECK_THROWS_WITH(Gpt2Tokenizer("no_such_folder"),
                    Catch::Contains("cannot open tokenizer file no_such_folder/encoder.json") &&
                        Catch::Contains("run scripts/fetch_data.sh"));
}

TEST_CASE("tokenizer refuses a merge that is not of two vocabulary entries", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  const std::string dir = (std::filesystem::temp_directory_path() / "sk_tokenizer_bad_merges").string();
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SK_TOKENIZER_DIR "/encoder.json", dir + "/encoder.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir + "/vocab.bpe") << "#version: 0.2\n\u0120 t\nnospace\n";
  CHECK_THROWS_WITH(Gpt2Tokenizer(dir), "tokenizer file " + dir + "/vocab.bpe line 3 is not a merge of two tokens of the vocabulary");
  std::filesystem::remove_all(dir);
}

TEST_CASE("tokenizer reads a Hugging Face folder's vocab.json and merges.txt", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  const std::string dir = (std::filesystem::temp_directory_path() / "sk_tokenizer_hf_names").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SK_TOKENIZER_DIR "/encoder.json", dir + "/vocab.json");
  std::filesystem::copy_file(SK_TOKENIZER_DIR "/vocab.bpe", dir + "/merges.txt");
  CHECK(tokenizer_files(dir).vocabulary == dir + "/vocab.json");
  Gpt2Tokenizer hf(dir);
  const std::string text = "Hello world, it's 2026: caf\xC3\xA9s and <|endoftext|>!";
  CHECK(hf.encode(text) == tokenizer().encode(text));
  CHECK(hf.vocab_size() == tokenizer().vocab_size());
  // OpenAI's names come first where a folder has both.
  std::filesystem::copy_file(SK_TOKENIZER_DIR "/encoder.json", dir + "/encoder.json");
  CHECK(tokenizer_files(dir).merges == dir + "/vocab.bpe");
  std::filesystem::remove_all(dir);
}

// Expected values are Python's bytes.decode("utf-8", errors="replace").
TEST_CASE("decoded text replaces ill-formed UTF-8 as GPT-2's decoder does", "[tokenizer]") {
  const std::string R = "\xEF\xBF\xBD";  // U+FFFD
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"abc", "abc"},
      {"\xC3\xA9", "\xC3\xA9"},
      {"\xC3", R},                                // cut after the lead byte
      {"\xE2\x82", R},                            // one replacement for the whole prefix
      {"\xE2\x82\xAC", "\xE2\x82\xAC"},
      {"\xE2\x82x", R + "x"},                     // the byte that breaks it starts afresh
      {"\x80\x80", R + R},                        // lone continuation bytes
      {"\xF0\x9F\x98", R},
      {"\xF0\x9F\x98\x80!", "\xF0\x9F\x98\x80!"},
      {"\xED\xA0\x80", R + R + R},                // a surrogate
      {"\xE0\x80\x80", R + R + R},                // overlong
      {"\xF4\x90\x80\x80", R + R + R + R},        // above U+10FFFF
      {"\xF5" "a", R + "a"},
      {"\xC0\xAF", R + R},
      {"a\xF0\x9F", "a" + R},                     // a character cut off at the end
      {R, R},
  };
  for (const auto& [bytes, text] : cases) {
    INFO("bytes of length " << bytes.size());
    CHECK(replace_invalid_utf8(bytes) == text);
  }
}

// Streamed text, token by token, is decode_text of all the tokens, and a
// character split between tokens waits for its last byte.
TEST_CASE("streamed text equals decoded text and holds back split characters", "[tokenizer]") {
  SKIP_WITHOUT_VOCABULARY();
  const std::string R = "\xEF\xBF\xBD";
  // Each part encodes on its own, so the emoji's bytes fall in different tokens.
  const std::vector<std::string> parts = {"a \xF0\x9F", "\x98", "\x80 b", "\xE2\x82", "x\xFF", "\xC3", "\xA9", "\xE2"};
  std::vector<int> ids;
  std::vector<std::size_t> ends;  // the tokens up to the end of each part
  for (const auto& p : parts) {
    const auto more = tokenizer().encode(p);
    ids.insert(ids.end(), more.begin(), more.end());
    ends.push_back(ids.size());
  }
  TextStream stream(tokenizer());
  std::string streamed;
  std::vector<std::string> after;  // streamed so far at the end of each part
  for (std::size_t i = 0, part = 0; i < ids.size(); ++i) {
    streamed += stream.add(ids[i]);
    while (part < ends.size() && ends[part] == i + 1) after.push_back(streamed), ++part;
  }
  CHECK(after[0] == "a ");
  CHECK(after[1] == "a ");  // three of the emoji's four bytes
  CHECK(after[2] == "a \xF0\x9F\x98\x80 b");
  CHECK(after[3] == "a \xF0\x9F\x98\x80 b");
  CHECK(after[4] == "a \xF0\x9F\x98\x80 b" + R + "x" + R);  // broken by x; 0xFF can never start a character
  CHECK(after[6] == "a \xF0\x9F\x98\x80 b" + R + "x" + R + "\xC3\xA9");
  streamed += stream.finish();
  CHECK(streamed == tokenizer().decode_text(ids));
  CHECK(streamed == after[6] + R);  // the lead byte cut off at the end
  CHECK(utf8_settled_length("ab\xE0") == 2);
  CHECK(utf8_settled_length("ab\xE0\x80") == 4);  // 0x80 cannot follow 0xE0: settled as two replacements
}
