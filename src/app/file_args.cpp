#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "error.hpp"
#include "files.hpp"
#include "tokenizer.hpp"

namespace sk {

void refuse_clobbering(const std::string& command, const std::vector<FileArg>& outputs,
                       const std::vector<FileArg>& inputs) {
  auto describe = [](const char* role, const FileArg& f) { return std::string(role) + " " + f.path + " (" + f.option + ")"; };
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    for (const FileArg& in : inputs)
      if (same_file(outputs[o].path, in.path))
        throw UsageError(command + ": " + describe("output", outputs[o]) + " is the same file as " +
                         describe("input", in) + ", which it would replace");
    for (std::size_t e = 0; e < o; ++e)
      if (same_file(outputs[o].path, outputs[e].path))
        throw UsageError(command + ": " + describe("output", outputs[o]) + " is the same file as " +
                         describe("output", outputs[e]));
  }
}

std::string utf8_text_file(const std::string& path, const std::string& what) {
  std::string text;
  if (path == "-") {
    std::ostringstream in;
    in << std::cin.rdbuf();
    text = in.str();
  } else {
    text = read_whole_file(path, what);
  }
  const std::string name = path == "-" ? "standard input" : what + " " + path;
  if (text.empty()) throw Error(name + " is empty");
  if (replace_invalid_utf8(text) != text) throw Error(name + " is not UTF-8 text");
  return text;
}

}  // namespace sk
