#include "cli.hpp"

#include <charconv>
#include <cstdio>
#include <system_error>

#include "error.hpp"

namespace sk {

Options::Options(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void Options::add(const std::string& name, const std::string& metavar, const std::string& help,
                  const std::string& default_value) {
  specs_.push_back({name, metavar, help, default_value, false, false});
}

void Options::add_list(const std::string& name, const std::string& metavar, const std::string& help) {
  specs_.push_back({name, metavar, help + " (may be repeated)", "", false, true});
}

void Options::add_flag(const std::string& name, const std::string& help) {
  specs_.push_back({name, "", help, "", true, false});
}

const Options::Spec& Options::spec(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return s;
  throw std::logic_error("undeclared option " + name);
}

bool Options::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    std::string value;
    bool inline_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    const Spec* s = nullptr;
    for (const auto& c : specs_)
      if (c.name == arg) s = &c;
    if (!s) throw UsageError(command_ + ": unknown option '" + arg + "'");
    if (s->is_flag) {
      if (inline_value) throw UsageError(command_ + ": option " + arg + " takes no value");
      values_[arg] = "1";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError(command_ + ": option " + arg + " needs a value (" + s->metavar + ")");
      value = argv[++i];
    }
    if (s->is_list) lists_[arg].push_back(value);
    else values_[arg] = value;
  }
  return true;
}

std::string Options::help() const {
  // One blank line before the options, whether or not the summary ends its last line.
  const std::string summary = summary_.substr(0, summary_.find_last_not_of('\n') + 1);
  std::string out = "usage: sophia-kokkos " + command_ + " [options]\n\n" + summary + "\n\noptions:\n";
  for (const auto& s : specs_) {
    std::string left = "  " + s.name + (s.is_flag ? "" : " " + s.metavar);
    if (left.size() < 26) left.resize(26, ' ');
    else left += "\n" + std::string(26, ' ');
    out += left + s.help + (s.default_value.empty() ? "" : " (default: " + s.default_value + ")") + "\n";
  }
  out += "  --help                  show this help and exit\n"
         "  --kokkos-...            Kokkos options ('sophia-kokkos --kokkos-help' lists them)\n";
  return out;
}

bool Options::has(const std::string& name) const {
  return values_.count(name) || !spec(name).default_value.empty();
}

std::string Options::str(const std::string& name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  const auto& s = spec(name);
  if (s.default_value.empty()) throw UsageError(command_ + ": option " + name + " is required");
  return s.default_value;
}

namespace {
// The whole of `text` as a number (std::from_chars: no leading blanks or '+',
// no trailing characters); false if it is not one or does not fit.
template <class N>
bool parse_whole(const std::string& text, N& x) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, x);
  return ec == std::errc() && ptr == end && !text.empty();
}
}  // namespace

void Options::bad_value(const std::string& name, const std::string& rule, const std::string& value) const {
  throw UsageError(command_ + ": option " + name + " " + rule + ", got '" + value + "'");
}

long Options::integer(const std::string& name, long min, long max) const {
  const std::string v = str(name);
  long x = 0;
  if (!parse_whole(v, x)) throw UsageError(command_ + ": option " + name + " needs an integer, got '" + v + "'");
  if (x < min || x > max)
    throw UsageError(command_ + ": option " + name + " must be in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got " + v);
  return x;
}

double Options::number(const std::string& name, double min, double max) const {
  const std::string v = str(name);
  double x = 0;
  if (!parse_whole(v, x)) throw UsageError(command_ + ": option " + name + " needs a number, got '" + v + "'");
  if (!(x >= min && x <= max)) {  // also refuses nan
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", min, max);
    throw UsageError(command_ + ": option " + name + " must be in " + range + ", got " + v);
  }
  return x;
}

bool Options::flag(const std::string& name) const { return values_.count(name) > 0; }

std::vector<std::string> Options::list(const std::string& name) const {
  auto it = lists_.find(name);
  return it == lists_.end() ? std::vector<std::string>{} : it->second;
}

}  // namespace sk
