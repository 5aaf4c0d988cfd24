// Built only by the test layout_include_upward_fails: a file of the io layer
// that includes a header of the model layer above it. It must not compile.
#include "gpt2.hpp"
