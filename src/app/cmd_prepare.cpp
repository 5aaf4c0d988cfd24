// sophia-kokkos prepare: text files -> GPT-2 token shards for training and validation.
#include <glob.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>

#include "tokenizer.hpp"
#include "tokens.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "files.hpp"

namespace sk {

namespace {

namespace fs = std::filesystem;

// Each --input value is a path or a glob pattern; a pattern's files come in sorted order.
std::vector<std::string> input_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& pattern : inputs) {
    glob_t g{};
    const int rc = glob(pattern.c_str(), 0, nullptr, &g);
    for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (rc != 0)
      throw Error(pattern.find_first_of("*?[") == std::string::npos ? "input file " + pattern + " does not exist"
                                                                    : "no input file matches " + pattern);
  }
  for (const auto& f : files) {
    if (fs::is_directory(f)) throw Error("input " + f + " is a folder; give its files, e.g. '" + f + "/*.txt'");
    require_regular_file(f, "input file");
  }
  return files;
}

// One split's token stream, cut into files PREFIX_000000.bin, ... of at most
// `limit` tokens, staged in `out` (renamed into place when every shard is written).
class ShardWriter {
 public:
  ShardWriter(StagedFiles& out, std::string prefix, std::size_t limit)
      : out_(out), prefix_(std::move(prefix)), limit_(limit) {}

  void add(const std::vector<int>& ids) {
    for (const int id : ids) {
      buffer_.push_back(std::uint16_t(id));
      if (buffer_.size() == limit_) flush();
    }
  }

  void flush() {
    if (buffer_.empty()) return;
    char name[32];
    std::snprintf(name, sizeof name, "_%06zu.bin", files_.size());
    files_.push_back(prefix_ + name);
    write_tokens(out_.stage(files_.back()), buffer_);
    tokens_ += buffer_.size();
    buffer_.clear();
  }

  const std::vector<std::string>& files() const { return files_; }
  std::size_t tokens() const { return tokens_; }

 private:
  StagedFiles& out_;
  std::string prefix_;
  std::size_t limit_, tokens_ = 0;
  std::vector<std::uint16_t> buffer_;
  std::vector<std::string> files_;
};

// The shards an earlier run left in `dir`, which this run replaces or removes
// (a glob over the new ones would pick them up).
std::vector<std::string> old_shards(const std::string& dir) {
  std::vector<std::string> found;
  for (const char* split : {"train_*.bin", "val_*.bin"}) {
    glob_t g{};
    if (glob((fs::path(dir) / split).c_str(), 0, nullptr, &g) == 0)
      for (std::size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return found;
}

// Removes the earlier run's shards that this run's did not replace by name.
void remove_stale(const std::vector<std::string>& old, std::initializer_list<const ShardWriter*> splits) {
  for (const auto& f : old) {
    bool kept = false;
    for (const ShardWriter* s : splits) kept = kept || std::count(s->files().begin(), s->files().end(), f) > 0;
    std::error_code ec;
    if (!kept) fs::remove(f, ec);
  }
}

void print_split(const char* name, std::size_t documents, const ShardWriter& shards) {
  std::printf("%-5s documents %zu, tokens %zu, files %zu\n", name, documents, shards.tokens(), shards.files().size());
  for (const auto& f : shards.files()) std::printf("  %s\n", f.c_str());
}

}  // namespace

int cmd_prepare(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("prepare",
               "Tokenizes text files with GPT-2's tokenizer into token shards (llm.c format) for training\n"
               "and validation. Each non-empty input file is one document (scripts/fetch_data.sh writes\n"
               "the Brown Corpus as one file per document in data/brown/), preceded by the <|endoftext|>\n"
               "token (50256). Files are taken in the order given, a pattern's files in sorted order;\n"
               "the last --val-fraction of the documents (rounded, at least one when the fraction is\n"
               "positive and there are two or more, never all) are the validation split.\n"
               "Writes DIR/train_000000.bin, ... and DIR/val_000000.bin, ..., replacing any\n"
               "train_*.bin and val_*.bin already in DIR. Only rank 0 works under MPI.");
  opts.add_list("--input", "FILE", "a text file, or a quoted glob such as 'data/brown/*.txt'");
  opts.add("--out", "DIR", "folder for the shards, created if needed");
  opts.add("--val-fraction", "F", "fraction of the documents for validation, in [0, 1)", "0.1");
  add_tokenizer_option(opts);
  opts.add("--shard-tokens", "N", "most tokens in one shard", "100000000");
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  if (opts.list("--input").empty()) throw UsageError("prepare: give the text to tokenize with --input FILE");
  const std::string out = opts.str("--out");
  const double fraction = opts.number("--val-fraction", 0, 1);
  if (fraction == 1) throw UsageError("prepare: option --val-fraction must be below 1 (some text must be left to train on)");
  const auto shard_tokens = std::size_t(opts.integer("--shard-tokens", 1, INT32_MAX));
  if (mpi.rank() != 0) return 0;

  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> inputs = input_files(opts.list("--input")), replaced = old_shards(out);
  std::vector<FileArg> read, written;
  for (const auto& f : inputs) read.push_back({"--input", f});
  for (const auto& f : replaced) written.push_back({"--out", f});
  refuse_clobbering("prepare", written, read);
  std::vector<std::string> documents;
  for (const auto& f : inputs)
    if (fs::file_size(f) > 0) documents.push_back(f);
  if (documents.empty()) throw Error("prepare: the input files hold no text");
  const std::size_t n = documents.size();
  std::size_t n_val = 0;
  if (fraction > 0 && n >= 2) n_val = std::min(n - 1, std::max<std::size_t>(1, std::size_t(fraction * n + 0.5)));

  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out)) throw Error("cannot create output folder " + out + ": " + (ec ? ec.message() : "not a folder"));
  const std::string dir = tokenizer_option(opts);
  Gpt2Tokenizer tokenizer(dir);

  StagedFiles staged;
  ShardWriter train(staged, (fs::path(out) / "train").string(), shard_tokens),
      val(staged, (fs::path(out) / "val").string(), shard_tokens);
  std::size_t bytes = 0;
  for (std::size_t d = 0; d < n; ++d) {
    ShardWriter& split = d < n - n_val ? train : val;
    const std::string text = read_whole_file(documents[d], "input file");
    bytes += text.size();
    split.add(tokenizer.encode_document(text));
  }
  train.flush();
  val.flush();
  staged.commit();
  remove_stale(replaced, {&train, &val});

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("prepare: %zu documents, %zu bytes of text, tokenizer %s, %.2f s\n", n, bytes, dir.c_str(), seconds);
  print_split("train", n - n_val, train);
  print_split("val", n_val, val);
  return 0;
}

}  // namespace sk
