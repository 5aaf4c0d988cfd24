// Metrics as JSON lines: one object per line, e.g.
// {"type":"step","step":10,"loss":5.21,"lr":0.0003,...}
#pragma once
#include <cstdio>
#include <string>

namespace sk {

class JsonLine {
 public:
  JsonLine& add(const std::string& key, double value);
  JsonLine& add(const std::string& key, long value);
  JsonLine& add(const std::string& key, const std::string& value);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const std::string& k);
  std::string body_;
};

// Writes lines to a file (appending to what is there, or starting it anew),
// flushed after each so that a killed run keeps them.
class MetricsFile {
 public:
  MetricsFile(const std::string& path, bool append);
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;
  void write(const JsonLine& line);

 private:
  std::string path_;
  std::FILE* file_;
};

// For a run resumed at `step`: drops the lines of steps after it (step,
// evaluation and sample lines alike) that the interrupted run wrote after its checkpoint,
// so the history reads as if the run had never stopped.
void truncate_metrics(const std::string& path, long step);

}  // namespace sk
