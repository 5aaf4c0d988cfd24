#include "deck.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <toml++/toml.h>
#include <type_traits>

#include "error.hpp"

namespace sk {
namespace {

enum class Kind { integer, number, boolean, string };

using Store = std::function<void(TrainConfig&, const DeckValue&)>;

// One deck key: its type, default, accepted values and help, and the field of
// TrainConfig it sets. The rows below are the only place a key is spelled.
struct Key {
  std::string name;  // "section.key"
  Kind kind;
  DeckValue fallback;
  double min = 0, max = 0;           // numbers: the range, inclusive unless above_min
  bool above_min = false;            // numbers: min itself is refused
  std::vector<std::string> choices;  // strings: allowed values (empty: any)
  std::string help;
  Store store;
  std::optional<DeckValue> adamw;  // the default when optimizer.type = adamw, where it differs
  std::function<DeckValue(const Deck&)> derive;  // a default computed from other keys

  Key with_adamw(DeckValue v) && {
    adamw = std::move(v);
    return std::move(*this);
  }
  Key excluding_min() && {
    above_min = true;
    return std::move(*this);
  }
  // A path (or glob): relative in a deck file, it starts at the deck's
  // folder; `keyword` (if any) is a value that is no path.
  std::optional<std::string> path_keyword;
  bool path = false;
  Key as_path(std::string keyword = "") && {
    path = true;
    if (!keyword.empty()) path_keyword = std::move(keyword);
    return std::move(*this);
  }
};

// A deck file's relative path joined to the deck's folder (as given, so a
// relative deck path gives a relative result).
std::string from_deck_folder(const Key& key, const std::string& value, const std::filesystem::path& deck_folder) {
  const std::filesystem::path p(value);
  if (value.empty() || deck_folder.empty() || p.is_absolute() || value == key.path_keyword) return value;
  return (deck_folder / p).lexically_normal().string();
}

constexpr double inf = std::numeric_limits<double>::infinity();
// The largest value of the keys stored in an int (TrainConfig's counts).
constexpr double int_max = std::numeric_limits<int>::max();

// Storing a deck value into a TrainConfig field of any type.
void assign(int& f, const DeckValue& v) { f = int(std::get<std::int64_t>(v)); }
void assign(long& f, const DeckValue& v) { f = long(std::get<std::int64_t>(v)); }
void assign(std::uint64_t& f, const DeckValue& v) { f = std::uint64_t(std::get<std::int64_t>(v)); }
void assign(double& f, const DeckValue& v) { f = std::get<double>(v); }
void assign(bool& f, const DeckValue& v) { f = std::get<bool>(v); }
void assign(std::string& f, const DeckValue& v) { f = std::get<std::string>(v); }
template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
void assign(E& f, const DeckValue& v) {
  f = *named<E>(std::get<std::string>(v));  // convert() admitted only its names
}

// The field `member` of TrainConfig's section `section` (or of TrainConfig itself).
template <class S, class M>
Store field(S TrainConfig::*section, M S::*member) {
  return [section, member](TrainConfig& c, const DeckValue& v) { assign(c.*section.*member, v); };
}
template <class M>
Store field(M TrainConfig::*member) {
  return [member](TrainConfig& c, const DeckValue& v) { assign(c.*member, v); };
}

Key integer(const char* name, std::int64_t fallback, double min, double max, const char* help, Store store) {
  return {name, Kind::integer, fallback, min, max, false, {}, help, std::move(store), {}, {}, {}, false};
}
Key number(const char* name, double fallback, double min, double max, const char* help, Store store) {
  return {name, Kind::number, fallback, min, max, false, {}, help, std::move(store), {}, {}, {}, false};
}
Key flag(const char* name, bool fallback, const char* help, Store store) {
  return {name, Kind::boolean, fallback, 0, 0, false, {}, help, std::move(store), {}, {}, {}, false};
}
Key text(const char* name, const char* fallback, const char* help, Store store,
         std::vector<std::string> choices = {}) {
  return {name, Kind::string, std::string(fallback), 0, 0, false, std::move(choices), help, std::move(store), {}, {}, {}, false};
}
// A string key naming one of `allowed` (by default every value of E).
template <class E>
Key choice(const char* name, E fallback, const char* help, Store store, std::vector<E> allowed = {}) {
  if (allowed.empty())
    for (int i = 0; i < int(std::size(Names<E>::list)); ++i) allowed.push_back(E(i));
  std::vector<std::string> names;
  for (E e : allowed) names.push_back(name_of(e));
  return {name, Kind::string, std::string(name_of(fallback)), 0, 0, false, names, help, std::move(store), {}, {}, {}, false};
}

std::vector<Key> model_keys() {
  std::vector<Key> k = {text(
      "model.preset", "tiny", "model shape preset",
      [](TrainConfig& c, const DeckValue& v) { c.model = preset(std::get<std::string>(v)); }, preset_names())};
  for (const ModelField& f : model_fields)  // after the preset, which they override
    k.push_back(integer(f.name, 0, 0, double(f.max), "override the preset (0: keep)",
                        [member = f.member](TrainConfig& c, const DeckValue& v) {
                          if (std::get<std::int64_t>(v) > 0) assign(c.model.*member, v);
                        }));
  for (std::size_t i = 1; i < k.size(); ++i) k[i].name = "model." + k[i].name;
  return k;
}

std::vector<Key> optimizer_keys() {
  using O = OptimizerConfig;
  const auto o = &TrainConfig::optimizer;
  return {
      choice("optimizer.type", OptimizerType::sophiag, "optimizer", field(o, &O::type)),
      number("optimizer.lr", 3e-4, 0, 10, "peak learning rate", field(o, &O::lr)).with_adamw(6e-4),
      number("optimizer.beta1", 0.965, 0, 0.999999, "momentum", field(o, &O::beta1)).with_adamw(0.9),
      number("optimizer.beta2", 0.99, 0, 0.999999, "Hessian (sophiag, sophiah) or second-moment (adamw) average",
             field(o, &O::beta2))
          .with_adamw(0.95),
      number("optimizer.eps", 1e-8, 0, 1, "adamw's epsilon (sophiag and sophiah use 1e-15)", field(o, &O::eps)).excluding_min(),
      number("optimizer.rho", 0.04, 1e-6, 10, "sophiag's and sophiah's clipping scale (0.03-0.05 work well)",
             field(o, &O::rho)),
      number("optimizer.weight_decay", 0.2, 0, 10, "decoupled weight decay", field(o, &O::weight_decay))
          .with_adamw(0.1),
      number("optimizer.grad_clip", 1.0, 0, inf, "gradient-norm clipping threshold, 0: off", field(o, &O::grad_clip)),
      integer("optimizer.hessian_interval", 10, 1, 1e6, "sophiag, sophiah: steps between Hessian refreshes",
              field(o, &O::hessian_interval)),
      integer("optimizer.hessian_batch", 0, 0, 1e9,
              "sophiag, sophiah: sequences in the Hessian batch, 0: the whole batch", field(o, &O::hessian_batch)),
      choice("optimizer.probe", Probe::rademacher, "sophiah: Hutchinson probe entries, random signs or N(0, 1)",
             field(o, &O::probe)),
  };
}

std::vector<Key> schedule_and_data_keys() {
  using S = ScheduleConfig;
  using D = DataConfig;
  const auto s = &TrainConfig::schedule;
  const auto d = &TrainConfig::data;
  Key min_lr = number("schedule.min_lr", 0.0, 0, 10, "final learning rate (default: optimizer.lr/10)",
                      field(s, &S::min_lr));
  min_lr.derive = [](const Deck& deck) { return DeckValue(deck.number("optimizer.lr") / 10); };
  return {
      choice("schedule.kind", ScheduleKind::cosine, "learning-rate decay after warm-up", field(s, &S::kind)),
      integer("schedule.warmup_steps", 2000, 0, 1e9, "linear warm-up steps", field(s, &S::warmup_steps)),
      std::move(min_lr),
      text("data.train_data", "", "training token shards: a path or a glob", field(d, &D::train_data)).as_path(),
      text("data.val_data", "", "validation token shards, empty: no validation", field(d, &D::val_data)).as_path(),
      choice("data.order", WindowOrder::shuffled, "order of the windows", field(d, &D::order)),
  };
}

std::vector<Key> train_keys() {
  using T = TrainLoopConfig;
  const auto t = &TrainConfig::train;
  return {
      integer("train.steps", 1000, 1, int_max, "optimizer steps", field(t, &T::steps)),
      integer("train.batch_size", 8, 1, 1 << 20, "sequences per micro-batch", field(t, &T::batch_size)),
      integer("train.seq_len", 64, 1, 1 << 20, "tokens per sequence (at most block_size)", field(t, &T::seq_len)),
      integer("train.grad_accum", 1, 1, 1 << 20, "micro-batches per optimizer step", field(t, &T::grad_accum)),
      integer("train.seed", 1337, 0, 9.2e18, "seed of initialisation, data order and sampling", field(t, &T::seed)),
      integer("train.eval_interval", 100, 0, int_max, "steps between validations, 0: only at the end",
              field(t, &T::eval_interval)),
      integer("train.eval_batches", 10, 1, 1e9, "micro-batches per validation", field(t, &T::eval_batches)),
      integer("train.sample_interval", 0, 0, int_max,
              "steps between text samples (printed and in the metrics; GPT-2 vocabulary), 0: none",
              field(t, &T::sample_interval)),
      integer("train.sample_tokens", 32, 1, max_new_tokens,
              "tokens per sample, drawn after <|endoftext|> at temperature 1 with train.seed (past block_size: "
              "the context cropped as `sample` does)",
              field(t, &T::sample_tokens)),
      integer("train.log_interval", 1, 1, int_max, "steps between progress lines", field(t, &T::log_interval)),
      number("train.peak_flops", 0.0, 0, inf,
             "per-rank peak FLOP/s that MFU is against (e.g. a GPU's datasheet figure); 0: the gemm rate measured at "
             "start",
             field(t, &T::peak_flops)),
      flag("train.tf32", false, "float gemms on TF32 tensor cores (CUDA builds; docs/training.md)", field(t, &T::tf32)),
      choice("train.gemm", GemmChoice::automatic,
             "library of the float gemms: blas (KokkosKernels' BLAS), onednn (host builds with oneDNN), auto (oneDNN "
             "where built)",
             field(t, &T::gemm)),
      choice("train.precision", Precision::fp32,
             "precision of the gemms' inputs: fp32, or bf16 (bf16 inputs, fp32 accumulation; weights, optimizer and "
             "checkpoints stay fp32; needs oneDNN and a CPU with AVX512-BF16 or AMX; docs/training.md)",
             field(t, &T::precision)),
      text("output.dir", "out", "folder for the resolved deck, metrics and weights", field(&TrainConfig::output_dir))
          .as_path(),
  };
}

std::vector<Key> checkpoint_and_parallel_keys() {
  using C = CheckpointConfig;
  using P = ParallelConfig;
  const auto c = &TrainConfig::checkpoint;
  const auto p = &TrainConfig::parallel;
  return {
      integer("checkpoint.interval", 0, 0, int_max, "steps between checkpoints, 0: none by count",
              field(c, &C::interval)),
      number("checkpoint.minutes", 0.0, 0, 1e7, "wall-clock minutes between checkpoints, 0: none by time",
             field(c, &C::minutes)),
      integer("checkpoint.keep_last", 3, 1, 1e6, "how many of the newest checkpoints to keep", field(c, &C::keep_last)),
      integer("checkpoint.keep_every", 0, 0, 1e12, "also keep the checkpoints of every N-th step, 0: none",
              field(c, &C::keep_every)),
      text("checkpoint.resume", "",
           "\"\": start fresh; \"auto\": the newest valid checkpoint in output.dir (or fresh); or a checkpoint's path",
           field(c, &C::resume))
          .as_path("auto"),
      text("checkpoint.on_failure", "stop", "when a checkpoint cannot be written: stop (exit code 74) or continue training",
           [](TrainConfig& t, const DeckValue& v) {
             t.checkpoint.continue_on_failure = std::get<std::string>(v) == "continue";
           },
           {"stop", "continue"}),
      choice("parallel.reduction", Reduction::overlap,
             "gradient sums over ranks: buckets during the backward pass, one call after it, or exact: fixed-point "
             "sums after it, bit-identical to one process running the same micro-batches (4x the bytes)",
             field(p, &P::reduction), {Reduction::overlap, Reduction::blocking, Reduction::exact}),
      number("parallel.bucket_mb", 25.0, 0.001, 65536, "bucket size of overlapped reductions, MB",
             field(p, &P::bucket_mb)),
      flag("parallel.zero1", false, "shard the optimizer state over ranks (ZeRO stage 1)", field(p, &P::zero1)),
      number("parallel.peer_timeout", 600.0, 0, 1e7,
             "seconds without progress after which the ranks look for a lost rank and stop (exit code 76); longer "
             "than the slowest step, evaluation or checkpoint",
             field(p, &P::peer_timeout))
          .excluding_min(),
  };
}

// Every key, in the order the resolved deck prints them and TrainConfig::from
// stores them.
const std::vector<Key>& schema() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> all;
    for (auto part : {model_keys, optimizer_keys, schedule_and_data_keys, train_keys, checkpoint_and_parallel_keys})
      for (Key& k : part()) all.push_back(std::move(k));
    return all;
  }();
  return keys;
}

const Key* find_key(const std::string& name) {
  for (const auto& k : schema())
    if (name == k.name) return &k;
  return nullptr;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::integer: return "an integer";
    case Kind::number: return "a number";
    case Kind::boolean: return "true or false";
    default: return "a string";
  }
}

// The shortest decimal that reads back as the same double (0.965, 3e-4), not
// the 17 digits that show binary rounding (0.96499999999999997).
std::string format_number(double v) {
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  std::string out(buf, end);
  const auto e = out.find('e');
  if (e != std::string::npos) {  // exponent without '+' and leading zeros: 3e-4, 1e20
    std::size_t digits = e + 1;
    const bool negative = out[digits] == '-';
    if (out[digits] == '+' || negative) ++digits;
    std::size_t first = digits;
    while (first + 1 < out.size() && out[first] == '0') ++first;
    out = out.substr(0, e + 1) + (negative ? "-" : "") + out.substr(first);
  }
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";  // stays a TOML float
  return out;
}

std::string format(const DeckValue& v) {
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&v)) return format_number(*d);
  if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  std::ostringstream s;
  s << toml::value<std::string>(std::get<std::string>(v));
  return s.str();
}

// Converts a TOML node to the key's kind, checking type and range.
DeckValue convert(const Key& key, const toml::node& node, const std::string& origin) {
  const std::string where = origin + ": " + key.name;
  DeckValue v;
  if (key.kind == Kind::integer && node.is_integer()) {
    v = node.as_integer()->get();
  } else if (key.kind == Kind::number && (node.is_floating_point() || node.is_integer())) {
    v = node.is_integer() ? double(node.as_integer()->get()) : node.as_floating_point()->get();
  } else if (key.kind == Kind::boolean && node.is_boolean()) {
    v = node.as_boolean()->get();
  } else if (key.kind == Kind::string && node.is_string()) {
    v = node.as_string()->get();
  } else {
    throw Error(where + " must be " + kind_name(key.kind));
  }
  if (key.kind == Kind::integer || key.kind == Kind::number) {
    const double x = key.kind == Kind::integer ? double(std::get<std::int64_t>(v)) : std::get<double>(v);
    auto bound = [&](double b) {
      if (key.kind == Kind::integer) return std::to_string(std::int64_t(b));
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.10g", b);
      return std::string(buf);
    };
    if (!std::isfinite(x)) throw Error(where + " = " + format(v) + " is not a finite number");
    const bool low_ok = key.above_min ? x > key.min : x >= key.min;
    if (!(low_ok && x <= key.max))
      throw Error(where + " = " + format(v) + " is out of range " + (key.above_min ? "(" : "[") + bound(key.min) +
                  ", " + bound(key.max) + "]");
  }
  if (key.kind == Kind::string && !key.choices.empty()) {
    const auto& s = std::get<std::string>(v);
    std::string allowed;
    bool ok = false;
    for (const auto& c : key.choices) {
      ok = ok || c == s;
      allowed += (allowed.empty() ? "" : ", ") + c;
    }
    if (!ok) throw Error(where + " = \"" + s + "\" is not one of: " + allowed);
  }
  return v;
}

// Stores the values of the keys whose names start with `prefix` ("" for all).
void store_keys(TrainConfig& c, const Deck& d, const std::string& prefix) {
  for (const auto& k : schema())
    if (k.name.compare(0, prefix.size(), prefix) == 0) k.store(c, d.value(k.name));
}

}  // namespace

Deck Deck::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::string text;
  if (!path.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw Error("deck " + path + " is a directory, not a TOML file");
    std::ifstream in(path);
    if (!in) throw Error("cannot open deck " + path);
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  return parse(text, path.empty() ? "deck" : path, overrides, std::filesystem::path(path).parent_path().string());
}

Deck Deck::parse(const std::string& text, const std::string& origin, const std::vector<std::string>& overrides,
                 const std::string& deck_folder) {
  Deck deck;
  for (const auto& k : schema()) deck.values_[k.name] = k.fallback;

  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw Error(origin + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                std::string(e.description()));
  }
  for (const auto& [section, node] : table) {
    const std::string s(section.str());
    if (!node.is_table()) throw Error(origin + ": '" + s + "' is not a section ([" + s + "])");
    for (const auto& [name, value] : *node.as_table()) {
      const std::string key = s + "." + std::string(name.str());
      const Key* spec = find_key(key);
      if (!spec) throw Error(origin + ": unknown key " + key);
      deck.values_[key] = convert(*spec, value, origin);
      if (spec->path) deck.values_[key] = from_deck_folder(*spec, std::get<std::string>(deck.values_[key]), deck_folder);
      deck.given_[key] = true;
    }
  }
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos) throw Error("--set " + o + ": expected section.key=value");
    const std::string key = o.substr(0, eq), raw = o.substr(eq + 1);
    const Key* spec = find_key(key);
    if (!spec) throw Error("--set: unknown key " + key);
    // One --set sets one key: a line break would let TOML read a second one.
    for (unsigned char ch : raw)
      if (ch < 0x20 || ch == 0x7f) throw Error("--set " + key + ": the value holds a line break or control character");
    toml::table one;
    try {
      one = toml::parse("v = " + raw);
    } catch (const toml::parse_error&) {
      one = toml::table{{"v", raw}};  // a bare word is a string
    }
    deck.values_[key] = convert(*spec, *one.get("v"), "--set");
    deck.given_[key] = true;
  }
  // Defaults that depend on other keys: the optimizer's, then derived ones.
  const bool adamw = deck.str("optimizer.type") == name_of(OptimizerType::adamw);
  for (const auto& k : schema())
    if (!deck.is_set(k.name) && adamw && k.adamw) deck.values_[k.name] = *k.adamw;
  for (const auto& k : schema())
    if (!deck.is_set(k.name) && k.derive) deck.values_[k.name] = k.derive(deck);
  return deck;
}

std::int64_t Deck::integer(const std::string& key) const { return std::get<std::int64_t>(values_.at(key)); }
double Deck::number(const std::string& key) const { return std::get<double>(values_.at(key)); }
bool Deck::boolean(const std::string& key) const { return std::get<bool>(values_.at(key)); }
const std::string& Deck::str(const std::string& key) const { return std::get<std::string>(values_.at(key)); }
const DeckValue& Deck::value(const std::string& key) const { return values_.at(key); }
bool Deck::is_set(const std::string& key) const { return given_.count(key) > 0; }

std::string Deck::to_toml() const {
  std::string out, section;
  for (const auto& k : schema()) {
    const std::string name = k.name, s = name.substr(0, name.find('.'));
    if (s != section) {
      out += (section.empty() ? "[" : "\n[") + s + "]\n";
      section = s;
    }
    out += name.substr(s.size() + 1) + " = " + format(values_.at(name)) + "\n";
  }
  return out;
}

std::vector<std::string> Deck::keys_differing(const Deck& other) const {
  std::vector<std::string> keys;
  for (const auto& k : schema())
    if (values_.at(k.name) != other.values_.at(k.name)) keys.push_back(k.name);
  return keys;
}

std::string Deck::formatted(const std::string& key) const { return format(values_.at(key)); }

std::string Deck::summary() const {
  const bool adamw = str("optimizer.type") == name_of(OptimizerType::adamw);
  std::string out;
  for (const auto& k : schema()) {
    if (!is_set(k.name)) continue;  // derived values follow the keys they come from
    const DeckValue fallback = k.derive ? k.derive(*this) : adamw && k.adamw ? *k.adamw : k.fallback;
    if (values_.at(k.name) != fallback) out += "  " + k.name + " = " + formatted(k.name) + "\n";
  }
  return out;
}

// Keys of one section that share their default and help share a line
// ("model.n_layer, n_head = 0"): the reference stays one screen long.
std::string Deck::reference() {
  const auto& keys = schema();
  const auto section = [](const Key& k) { return k.name.substr(0, k.name.find('.')); };
  const auto alike = [&](const Key& a, const Key& b) {
    return section(a) == section(b) && a.help == b.help && a.fallback == b.fallback && !a.adamw && !b.adamw;
  };
  std::string out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Key& k = keys[i];
    std::string line = std::string("  ") + k.name;
    for (; i + 1 < keys.size() && alike(k, keys[i + 1]); ++i) line += ", " + keys[i + 1].name.substr(section(k).size() + 1);
    line += " = " + format(k.fallback);
    if (k.adamw) line += " (adamw " + format(*k.adamw) + ")";
    if (line.size() < 40) line.resize(40, ' ');
    out += line + " " + k.help + "\n";
  }
  return out;
}

OptimizerConfig optimizer_config(const Deck& d) {
  TrainConfig c{};
  store_keys(c, d, "optimizer.");
  return c.optimizer;
}

OptimizerConfig optimizer_defaults(OptimizerType type) {
  return optimizer_config(Deck::parse("", "defaults", {std::string("optimizer.type=") + name_of(type)}));
}

TrainConfig TrainConfig::from(const Deck& d) {
  TrainConfig c{};
  store_keys(c, d, "");
  c.model.validate();
  const auto& o = c.optimizer;
  const auto& t = c.train;

  if (c.data.train_data.empty()) throw Error("deck: data.train_data is required (a token shard path or glob)");
  if (t.seq_len > c.model.block_size)
    throw Error("deck: train.seq_len " + std::to_string(t.seq_len) + " exceeds the model's block_size " +
                std::to_string(c.model.block_size));
  const long sequences = long(t.batch_size) * t.grad_accum;
  if (o.hessian_batch > sequences)
    throw Error("deck: optimizer.hessian_batch " + std::to_string(o.hessian_batch) +
                " exceeds the sequences in one step (" + std::to_string(sequences) + ")");
  if (o.hessian_batch % t.batch_size != 0)
    throw Error("deck: optimizer.hessian_batch must be a multiple of train.batch_size " +
                std::to_string(t.batch_size));
  if (c.schedule.min_lr > o.lr) throw Error("deck: schedule.min_lr exceeds optimizer.lr");
  if (c.parallel.zero1 && c.parallel.reduction == Reduction::exact)
    throw Error("deck: parallel.zero1 and parallel.reduction = \"exact\" do not combine: ZeRO-1's partitions sum "
                "the gradient's norm in rank-dependent parts");
  if (t.sample_interval > 0 && c.model.vocab_size < 50257)
    throw Error("deck: train.sample_interval needs GPT-2's vocabulary (model.vocab_size 50257 or more; it is " +
                std::to_string(c.model.vocab_size) + "): samples start at <|endoftext|> and are decoded as GPT-2 text");
  return c;
}

}  // namespace sk
