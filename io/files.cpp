#include "files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>

#include "error.hpp"
#include "strict_json.hpp"

namespace sk {

namespace fs = std::filesystem;

void require_regular_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {
    const std::error_code why = ec ? ec : std::make_error_code(std::errc::no_such_file_or_directory);
    throw Error("cannot open " + what + " " + path + ": " + why.message());
  }
  if (fs::is_directory(st)) throw Error(what + " " + path + " is a directory, not a file");
  if (!fs::is_regular_file(st)) throw Error(what + " " + path + " is not a regular file");
}

std::string read_whole_file(const std::string& path, const std::string& what) {
  require_regular_file(path, what);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + what + " " + path + ": " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("cannot read " + what + " " + path + ": " + std::strerror(errno));
  return bytes;
}

nlohmann::json parse_json_strictly(const std::string& text, const std::string& where) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> keys;  // of each object being parsed, innermost last
  std::string repeated;
  const json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    else if (event == json::parse_event_t::object_end) keys.pop_back();
    else if (event == json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second &&
             repeated.empty())
      repeated = parsed.get<std::string>();
    return true;
  };
  json j;
  try {
    j = json::parse(text, check);
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.N] parse error at line L, column C: ...": keep from "at".
    const std::string what = e.what(), lead = "parse error ";
    const auto at = what.find(lead);
    const std::string detail = at == std::string::npos ? what : what.substr(at + lead.size());
    throw Error(where + ": invalid JSON " + (detail.rfind("at ", 0) == 0 ? detail : "(" + detail + ")"));
  } catch (const json::out_of_range& e) {
    // A number beyond double's range, "1e400": e.what() is "[json.exception.out_of_range.406] number overflow
    // parsing '1e400'", with the number's whole text, which can be megabytes long; keep 80 characters of the message.
    const std::string what = e.what();
    const auto start = what.find("] ");
    std::string detail = start == std::string::npos ? what : what.substr(start + 2);
    if (detail.size() > 80) detail = detail.substr(0, 80) + "...";
    throw Error(where + ": invalid JSON (" + detail + ")");
  }
  if (!repeated.empty()) throw Error(where + ": key " + json(repeated).dump() + " appears twice");
  return j;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  if (fs::exists(a, ea) && fs::exists(b, eb)) {
    const bool same = fs::equivalent(a, b, ea);
    return same && !ea;
  }
  // Absolute first: weakly_canonical leaves a relative path whose first part does not exist relative.
  const fs::path ca = fs::weakly_canonical(fs::absolute(a), ea), cb = fs::weakly_canonical(fs::absolute(b), eb);
  return !ea && !eb && ca == cb;
}

StagedFiles::~StagedFiles() {
  if (committed_) return;
  for (const auto& p : paths_) std::remove((p + ".tmp").c_str());
}

std::string StagedFiles::stage(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::is_directory(st)) throw Error("cannot write " + path + ": it is a directory, not a file");
  if (fs::exists(st) && !fs::is_regular_file(st)) throw Error("cannot write " + path + ": it is not a regular file");
  paths_.push_back(path);
  return path + ".tmp";
}

void StagedFiles::commit() {
  for (const auto& p : paths_) {
    const std::string tmp = p + ".tmp";
    if (std::rename(tmp.c_str(), p.c_str()) != 0)
      throw Error("cannot rename " + tmp + " to " + p + ": " + std::strerror(errno));
  }
  committed_ = true;
}

}  // namespace sk
