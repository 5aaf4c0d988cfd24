// Plain files in and out, shared by the readers and writers of io/: whole
// files read with messages that name the file (never the C++ library's
// text), outputs staged under temporary names and renamed into place
// together.
#pragma once
#include <string>
#include <vector>

namespace sk {

// Throws sk::Error unless `path` is an existing regular file (after
// symlinks): "cannot open WHAT PATH: ...", "WHAT PATH is a directory, not a
// file", "WHAT PATH is not a regular file". `what` names the kind of file.
void require_regular_file(const std::string& path, const std::string& what);

// The whole of a regular file; throws sk::Error as require_regular_file does,
// or naming the system's reason when reading fails.
std::string read_whole_file(const std::string& path, const std::string& what);

// Whether two paths name the same file: by device and inode where both
// exist, else by their paths with symlinks and "." and ".." resolved.
bool same_file(const std::string& a, const std::string& b);

// Outputs written under temporary names (PATH.tmp) and renamed into place
// only when every one is complete, so that a failure leaves the earlier
// files as they were and no temporary behind.
class StagedFiles {
 public:
  StagedFiles() = default;
  StagedFiles(const StagedFiles&) = delete;
  StagedFiles& operator=(const StagedFiles&) = delete;
  ~StagedFiles();  // removes the temporaries of an uncommitted set

  // Refuses a destination that is a directory or another non-regular file,
  // before anything is written; returns the temporary path to write.
  std::string stage(const std::string& path);
  // Renames every temporary into place; throws sk::Error if one fails.
  void commit();

 private:
  std::vector<std::string> paths_;
  bool committed_ = false;
};

}  // namespace sk
