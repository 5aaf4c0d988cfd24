// A problem with the user's input or environment: the program reports the
// message on one line and exits non-zero. Anything else that escapes is a bug.
#pragma once
#include <stdexcept>
#include <string>

namespace sk {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A command line that does not parse; reported with a pointer to --help.
struct UsageError : Error {
  using Error::Error;
};

}  // namespace sk
