#include "deck.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <toml++/toml.h>

#include "error.hpp"

namespace sk {
namespace {

enum class Kind { integer, number, boolean, string };

struct Key {
  std::string name;  // "section.key"
  Kind kind;
  DeckValue fallback;
  double min, max;                   // numbers: inclusive range
  std::vector<std::string> choices;  // strings: allowed values (empty: any)
  const char* help;
};

constexpr double inf = std::numeric_limits<double>::infinity();
// The largest value of the keys stored in an int (TrainConfig's counts).
constexpr double int_max = std::numeric_limits<int>::max();

const std::vector<Key>& schema() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> k = {{"model.preset", Kind::string, std::string("tiny"), 0, 0,
                           {"tiny", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"}, "model shape preset"}};
    for (const ModelField& f : model_fields)
      k.push_back({"model." + std::string(f.name), Kind::integer, std::int64_t(0), 0, double(f.max), {},
                   "override the preset (0: keep)"});
    k.insert(k.end(), {
      {"optimizer.type", Kind::string, std::string("sophiag"), 0, 0, {"sophiag", "adamw"}, "optimizer"},
      {"optimizer.lr", Kind::number, 3e-4, 0, 10, {}, "peak learning rate (default: sophiag 3e-4, adamw 6e-4)"},
      {"optimizer.beta1", Kind::number, 0.965, 0, 0.999999, {}, "momentum (default: sophiag 0.965, adamw 0.9)"},
      {"optimizer.beta2", Kind::number, 0.99, 0, 0.999999,
       {}, "Hessian (sophiag) or second-moment (adamw) average (default: 0.99, adamw 0.95)"},
      {"optimizer.eps", Kind::number, 1e-8, 0, 1, {}, "adamw's epsilon (sophiag uses 1e-15)"},
      {"optimizer.rho", Kind::number, 0.04, 1e-6, 10, {}, "sophiag's clipping scale (0.03-0.05 work well)"},
      {"optimizer.weight_decay", Kind::number, 0.2, 0, 10, {}, "decoupled weight decay (default: sophiag 0.2, adamw 0.1)"},
      {"optimizer.grad_clip", Kind::number, 1.0, 0, inf, {}, "gradient-norm clipping threshold, 0: off"},
      {"optimizer.hessian_interval", Kind::integer, std::int64_t(10), 1, 1e6, {}, "sophiag: steps between Hessian refreshes"},
      {"optimizer.hessian_batch", Kind::integer, std::int64_t(0), 0, 1e9, {},
       "sophiag: sequences in the Hessian batch, 0: the whole batch"},
      {"schedule.kind", Kind::string, std::string("cosine"), 0, 0, {"cosine", "linear", "constant"},
       "learning-rate decay after warm-up"},
      {"schedule.warmup_steps", Kind::integer, std::int64_t(2000), 0, 1e9, {}, "linear warm-up steps"},
      {"schedule.min_lr", Kind::number, 0.0, 0, 10, {}, "final learning rate (default: lr/10)"},
      {"data.train_data", Kind::string, std::string(""), 0, 0, {}, "training token shards: a path or a glob"},
      {"data.val_data", Kind::string, std::string(""), 0, 0, {}, "validation token shards, empty: no validation"},
      {"data.order", Kind::string, std::string("shuffled"), 0, 0, {"sequential", "shuffled"}, "order of the windows"},
      {"train.steps", Kind::integer, std::int64_t(1000), 1, int_max, {}, "optimizer steps"},
      {"train.batch_size", Kind::integer, std::int64_t(8), 1, 1 << 20, {}, "sequences per micro-batch"},
      {"train.seq_len", Kind::integer, std::int64_t(64), 1, 1 << 20, {}, "tokens per sequence (at most block_size)"},
      {"train.grad_accum", Kind::integer, std::int64_t(1), 1, 1 << 20, {}, "micro-batches per optimizer step"},
      {"train.seed", Kind::integer, std::int64_t(1337), 0, 9.2e18, {}, "seed of initialisation, data order and sampling"},
      {"train.eval_interval", Kind::integer, std::int64_t(100), 0, int_max, {}, "steps between validations, 0: only at the end"},
      {"train.eval_batches", Kind::integer, std::int64_t(10), 1, 1e9, {}, "micro-batches per validation"},
      {"train.sample_interval", Kind::integer, std::int64_t(0), 0, int_max, {},
       "steps between text samples (printed and in the metrics; GPT-2 vocabulary), 0: none"},
      {"train.sample_tokens", Kind::integer, std::int64_t(32), 1, int_max, {},
       "tokens per sample, drawn after <|endoftext|> at temperature 1 with train.seed"},
      {"train.log_interval", Kind::integer, std::int64_t(1), 1, int_max, {}, "steps between progress lines"},
      {"train.peak_flops", Kind::number, 0.0, 0, inf, {},
       "per-rank peak FLOP/s that MFU is against (e.g. a GPU's datasheet figure); 0: the gemm rate measured at start"},
      {"train.tf32", Kind::boolean, false, 0, 0, {},
       "float gemms on TF32 tensor cores (CUDA builds; docs/training.md)"},
      {"output.dir", Kind::string, std::string("out"), 0, 0, {}, "folder for the resolved deck, metrics and weights"},
      {"checkpoint.interval", Kind::integer, std::int64_t(0), 0, int_max, {}, "steps between checkpoints, 0: none by count"},
      {"checkpoint.minutes", Kind::number, 0.0, 0, 1e7, {}, "wall-clock minutes between checkpoints, 0: none by time"},
      {"checkpoint.keep_last", Kind::integer, std::int64_t(3), 1, 1e6, {}, "how many of the newest checkpoints to keep"},
      {"checkpoint.keep_every", Kind::integer, std::int64_t(0), 0, 1e12, {},
       "also keep the checkpoints of every N-th step, 0: none"},
      {"checkpoint.resume", Kind::string, std::string(""), 0, 0, {},
       "\"\": start fresh; \"auto\": the newest valid checkpoint in output.dir (or fresh); or a checkpoint's path"},
      {"checkpoint.on_failure", Kind::string, std::string("stop"), 0, 0, {"stop", "continue"},
       "when a checkpoint cannot be written: stop (exit code 74) or continue training"},
      {"parallel.reduction", Kind::string, std::string("overlap"), 0, 0, {"overlap", "blocking"},
       "gradient sums over ranks: buckets during the backward pass, or one call after it"},
      {"parallel.bucket_mb", Kind::number, 25.0, 0.001, 65536, {}, "bucket size of overlapped reductions, MB"},
      {"parallel.zero1", Kind::boolean, false, 0, 0, {}, "shard the optimizer state over ranks (ZeRO stage 1)"},
    });
    return k;
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
    if (!(x >= key.min && x <= key.max))
      throw Error(where + " = " + format(v) + " is out of range [" + bound(key.min) + ", " + bound(key.max) + "]");
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
  return parse(text, path.empty() ? "deck" : path, overrides);
}

Deck Deck::parse(const std::string& text, const std::string& origin, const std::vector<std::string>& overrides) {
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
      deck.given_[key] = true;
    }
  }
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos) throw Error("--set " + o + ": expected section.key=value");
    const std::string key = o.substr(0, eq), raw = o.substr(eq + 1);
    const Key* spec = find_key(key);
    if (!spec) throw Error("--set: unknown key " + key);
    toml::table one;
    try {
      one = toml::parse("v = " + raw);
    } catch (const toml::parse_error&) {
      one = toml::table{{"v", raw}};  // a bare word is a string
    }
    deck.values_[key] = convert(*spec, *one.get("v"), "--set");
    deck.given_[key] = true;
  }
  // Defaults that depend on other keys.
  const bool adamw = deck.str("optimizer.type") == "adamw";
  if (adamw && !deck.is_set("optimizer.lr")) deck.values_["optimizer.lr"] = 6e-4;
  if (adamw && !deck.is_set("optimizer.beta1")) deck.values_["optimizer.beta1"] = 0.9;
  if (adamw && !deck.is_set("optimizer.beta2")) deck.values_["optimizer.beta2"] = 0.95;
  if (adamw && !deck.is_set("optimizer.weight_decay")) deck.values_["optimizer.weight_decay"] = 0.1;
  if (!deck.is_set("schedule.min_lr")) deck.values_["schedule.min_lr"] = deck.number("optimizer.lr") / 10;
  return deck;
}

std::int64_t Deck::integer(const std::string& key) const { return std::get<std::int64_t>(values_.at(key)); }
double Deck::number(const std::string& key) const { return std::get<double>(values_.at(key)); }
bool Deck::boolean(const std::string& key) const { return std::get<bool>(values_.at(key)); }
const std::string& Deck::str(const std::string& key) const { return std::get<std::string>(values_.at(key)); }
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

std::string Deck::reference() {
  std::string out;
  for (const auto& k : schema()) {
    std::string line = std::string("  ") + k.name + " = " + format(k.fallback);
    if (line.size() < 40) line.resize(40, ' ');
    out += line + " " + k.help + "\n";
  }
  return out;
}

OptimizerConfig optimizer_config(const Deck& d) {
  OptimizerConfig o;
  o.type = d.str("optimizer.type");
  o.lr = d.number("optimizer.lr");
  o.beta1 = d.number("optimizer.beta1");
  o.beta2 = d.number("optimizer.beta2");
  o.eps = d.number("optimizer.eps");
  o.rho = d.number("optimizer.rho");
  o.weight_decay = d.number("optimizer.weight_decay");
  o.grad_clip = d.number("optimizer.grad_clip");
  o.hessian_interval = int(d.integer("optimizer.hessian_interval"));
  o.hessian_batch = int(d.integer("optimizer.hessian_batch"));
  return o;
}

TrainConfig TrainConfig::from(const Deck& d) {
  TrainConfig c;
  c.model = preset(d.str("model.preset"));
  auto override_field = [&](const std::string& key, int& field) {
    if (d.integer(key) > 0) field = int(d.integer(key));
  };
  for (const ModelField& f : model_fields) override_field("model." + std::string(f.name), c.model.*f.member);
  c.model.validate();

  c.optimizer = optimizer_config(d);
  const auto& o = c.optimizer;

  c.schedule = {d.str("schedule.kind"), int(d.integer("schedule.warmup_steps")), d.number("schedule.min_lr")};
  c.data = {d.str("data.train_data"), d.str("data.val_data"), d.str("data.order")};
  auto& t = c.train;
  t.steps = int(d.integer("train.steps"));
  t.batch_size = int(d.integer("train.batch_size"));
  t.seq_len = int(d.integer("train.seq_len"));
  t.grad_accum = int(d.integer("train.grad_accum"));
  t.eval_interval = int(d.integer("train.eval_interval"));
  t.eval_batches = int(d.integer("train.eval_batches"));
  t.log_interval = int(d.integer("train.log_interval"));
  t.tf32 = d.boolean("train.tf32");
  t.sample_interval = int(d.integer("train.sample_interval"));
  t.sample_tokens = int(d.integer("train.sample_tokens"));
  t.peak_flops = d.number("train.peak_flops");
  t.seed = std::uint64_t(d.integer("train.seed"));
  c.output_dir = d.str("output.dir");
  c.parallel = {d.str("parallel.reduction"), d.number("parallel.bucket_mb"), d.boolean("parallel.zero1")};
  c.checkpoint = {int(d.integer("checkpoint.interval")), d.number("checkpoint.minutes"),
                  int(d.integer("checkpoint.keep_last")), d.integer("checkpoint.keep_every"), d.str("checkpoint.resume"),
                  d.str("checkpoint.on_failure") == "continue"};

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
  if (t.sample_interval > 0 && c.model.vocab_size < 50257)
    throw Error("deck: train.sample_interval needs GPT-2's vocabulary (model.vocab_size 50257 or more; it is " +
                std::to_string(c.model.vocab_size) + "): samples start at <|endoftext|> and are decoded as GPT-2 text");
  if (t.sample_interval > 0 && t.sample_tokens > c.model.block_size)
    throw Error("deck: train.sample_tokens " + std::to_string(t.sample_tokens) + " exceeds the model's block_size " +
                std::to_string(c.model.block_size));
  return c;
}

}  // namespace sk
