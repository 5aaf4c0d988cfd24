// The command line (src/app/cli.hpp) and its deck overrides: any argument list,
// split from the input at NUL bytes, is either refused with sk::UsageError or
// sk::Error, or parsed into values that read back through every accessor.
#include "cli.hpp"
#include "deck.hpp"
#include "error.hpp"

#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args = {"sophia-kokkos", "fuzz"};
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current += char(data[i]);
    }
  }
  args.push_back(current);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  sk::Options opts("fuzz", "fuzzed options");
  opts.add("--batch", "B", "an integer", "4");
  opts.add("--rate", "X", "a number", "0.5");
  opts.add("--name", "S", "a string");
  opts.add_flag("--flag", "a flag");
  opts.add_list("--set", "KEY=VALUE", "deck overrides");
  try {
    if (!opts.parse(int(args.size()), argv.data(), 2)) return 0;  // --help
    opts.integer("--batch", 1, 1 << 20);
    opts.number("--rate", 0, 1);
    if (opts.has("--name")) opts.str("--name");
    opts.flag("--flag");
    sk::Deck::parse("", "fuzz", opts.list("--set"));
  } catch (const sk::Error&) {  // sk::UsageError is one
  }
  return 0;
}
