#include "metrics.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "error.hpp"
#include "files.hpp"

namespace sk {

namespace {
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}
}  // namespace

void JsonLine::key(const std::string& k) { body_ += (body_.empty() ? "" : ",") + quoted(k) + ":"; }

JsonLine& JsonLine::add(const std::string& k, double value) {
  key(k);
  if (!std::isfinite(value)) {
    body_ += "null";  // JSON has no NaN or infinity
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    body_ += buf;
  }
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, long value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, const std::string& value) {
  key(k);
  body_ += quoted(value);
  return *this;
}

MetricsFile::MetricsFile(const std::string& path, bool append)
    : path_(path), file_(std::fopen(path.c_str(), append ? "a" : "w")) {
  if (!file_) throw Error("cannot open metrics file " + path + ": " + std::strerror(errno));
}

MetricsFile::~MetricsFile() { std::fclose(file_); }

void MetricsFile::write(const JsonLine& line) {
  const std::string s = line.str() + "\n";
  if (std::fwrite(s.data(), 1, s.size(), file_) != s.size() || std::fflush(file_) != 0)
    throw Error("cannot write metrics file " + path_ + " (disk full?)");
}

void truncate_metrics(const std::string& path, long step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    const auto at = line.find("\"step\":");
    const long s = at == std::string::npos ? -1 : std::atol(line.c_str() + at + 7);
    // Every line counts the steps done when it was written, as the checkpoint does.
    if (s <= step) kept += line + "\n";
  }
  in.close();
  StagedFiles staged;
  std::ofstream out(staged.stage(path));
  if (!(out << kept).flush()) throw Error("cannot rewrite metrics file " + path + " (disk full?)");
  out.close();
  staged.commit();
}

}  // namespace sk
