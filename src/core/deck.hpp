// The input deck of `train`: a TOML file with sections [model], [optimizer],
// [schedule], [data], [train], [output], [checkpoint] and [parallel]. Every key has a
// declared type, range and default (see deck.cpp); unknown keys, wrong types
// and out-of-range values are errors that name the key. Command-line `--set section.key=value`
// overrides are applied on top of the file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "choices.hpp"
#include "config.hpp"

namespace sk {

using DeckValue = std::variant<std::int64_t, double, bool, std::string>;

// All keys with their resolved values, in "section.key" form.
class Deck {
 public:
  // Reads a TOML file (path may be empty: defaults only) and applies overrides
  // "section.key=value" (value in TOML syntax; bare words are strings).
  // Relative paths in the file (data, output, resume) start at the file's
  // folder; those of overrides at the working directory.
  static Deck load(const std::string& path, const std::vector<std::string>& overrides);
  // Parses TOML text; `origin` names it in error messages; relative paths in
  // the text start at `deck_folder` (empty: the working directory).
  static Deck parse(const std::string& text, const std::string& origin, const std::vector<std::string>& overrides,
                    const std::string& deck_folder = "");

  std::int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;
  const std::string& str(const std::string& key) const;
  const DeckValue& value(const std::string& key) const;
  bool is_set(const std::string& key) const;  // given in the file or an override

  // The resolved deck as TOML, every key present: saved with every run.
  std::string to_toml() const;
  // The keys whose values differ in `other`, in deck order, and one key's
  // value as TOML writes it.
  std::vector<std::string> keys_differing(const Deck& other) const;
  std::string formatted(const std::string& key) const;
  // The keys given (file or --set) with values other than the defaults (of
  // this deck's optimizer), as "  key = value" lines: what a run prints.
  std::string summary() const;
  // A description of every key, for `train --help`.
  static std::string reference();

 private:
  std::map<std::string, DeckValue> values_;
  std::map<std::string, bool> given_;
};

// Typed views of the deck that the training program uses.
struct OptimizerConfig {
  OptimizerType type;
  double lr, beta1, beta2, eps, rho, weight_decay, grad_clip;
  int hessian_interval, hessian_batch;  // hessian_batch: sequences, 0 = the whole batch
  Probe probe;                          // sophiah's Hutchinson probe distribution
};

// The [optimizer] section alone, and its defaults for one optimizer (what
// the benchmark runs).
OptimizerConfig optimizer_config(const Deck& deck);
OptimizerConfig optimizer_defaults(OptimizerType type);

struct ScheduleConfig {
  ScheduleKind kind;
  int warmup_steps;
  double min_lr;
};

struct DataConfig {
  std::string train_data, val_data;
  WindowOrder order;
};

struct TrainLoopConfig {
  int steps, batch_size, seq_len, grad_accum, eval_interval, eval_batches, log_interval;
  int sample_interval, sample_tokens;  // text samples: every N steps (0: none), of this many tokens
  std::uint64_t seed;
  double peak_flops;  // per rank, for MFU; 0: measure the gemm rate at start
  bool tf32;          // float gemms on TF32 tensor cores (CUDA)
  GemmChoice gemm;    // the gemm library
  Precision precision;  // of the gemms' inputs
};

struct ParallelConfig {
  Reduction reduction;  // overlap, blocking or exact
  double bucket_mb;
  bool zero1;
  double peer_timeout;  // seconds (PeerWatchdog)
  // The reducer's mode: ZeRO-1 partitions reduce in buckets whatever `reduction` says.
  Reduction mode() const { return zero1 ? Reduction::zero1 : reduction; }
};

struct CheckpointConfig {
  int interval;       // steps, 0: none by count
  double minutes;     // wall time, 0: none by time
  int keep_last;
  long keep_every;    // 0: none
  std::string resume; // "", "auto" or a path
  bool continue_on_failure;
};

struct TrainConfig {
  GPT2Config model;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  DataConfig data;
  TrainLoopConfig train;
  std::string output_dir;
  ParallelConfig parallel;
  CheckpointConfig checkpoint;
  // Checks relations between keys (e.g. seq_len <= block_size); throws sk::Error.
  static TrainConfig from(const Deck& deck);
};

}  // namespace sk
