// Shapes and layout shared by the attention kernels (kernels/attention.hpp).
#pragma once
#include "views.hpp"

namespace sk {

// Shapes of one attention call.
struct AttentionShape {
  int B, T, NH, HS;  // batch, sequence, heads, head size (C = NH * HS)
};

}  // namespace sk
