// Shared by the fuzzing harnesses: the readers under test take file names, so
// each input is written to one scratch file per process first (in /dev/shm
// where it exists: memory, no disk traffic).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace sk::fuzz {

inline std::string scratch_file(const std::uint8_t* data, std::size_t size, const char* suffix) {
  static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/sophia_fuzz_" + std::to_string(getpid()) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0)
    throw std::runtime_error("fuzz: cannot write " + path);  // the harness's own failure, not a finding
  return path;
}

}  // namespace sk::fuzz
