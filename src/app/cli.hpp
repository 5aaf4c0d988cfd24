// Command-line options of one subcommand: declared with their help text, parsed
// strictly (unknown options and missing values are usage errors naming them).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "choices.hpp"

namespace sk {

class Options {
 public:
  Options(std::string command, std::string summary);
  // An option taking a value; an empty default means "no default".
  void add(const std::string& name, const std::string& metavar, const std::string& help,
           const std::string& default_value = "");
  void add_flag(const std::string& name, const std::string& help);
  // An option that may be given several times; list() returns every value.
  void add_list(const std::string& name, const std::string& metavar, const std::string& help);

  // Parses argv[first..argc); throws UsageError. Returns false if --help was given.
  bool parse(int argc, char** argv, int first);
  std::string help() const;

  bool has(const std::string& name) const;  // given, or has a default
  std::string str(const std::string& name) const;
  // The option as a number in [min, max]; a UsageError naming it otherwise.
  long integer(const std::string& name, long min, long max) const;
  double number(const std::string& name, double min, double max) const;
  bool flag(const std::string& name) const;
  // The option as one of E's names (choices.hpp); a UsageError listing them otherwise.
  template <class E>
  E choice(const std::string& name) const {
    const std::string v = str(name);
    if (const std::optional<E> e = named<E>(v)) return *e;
    bad_value(name, "must be one of " + listed_names<E>(), v);
  }
  std::vector<std::string> list(const std::string& name) const;

 private:
  struct Spec {
    std::string name, metavar, help, default_value;
    bool is_flag, is_list;
  };
  const Spec& spec(const std::string& name) const;
  [[noreturn]] void bad_value(const std::string& name, const std::string& rule, const std::string& value) const;
  std::string command_, summary_;
  std::vector<Spec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
};

}  // namespace sk
