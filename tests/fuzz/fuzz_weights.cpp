// Weights files (io/weights.hpp): any bytes as an HDF5 file are either refused
// with sk::Error or read into a model of the shape they declare. Shapes above
// a million parameters are only checked, not read (the harness's limit: a
// small file may declare a large, valid model).
#include "weights.hpp"
#include "error.hpp"
#include "fuzz_input.hpp"

#include <hdf5.h>

#include <stdexcept>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sk::fuzz::scratch_file(data, size, ".h5");
  try {
    const sk::GPT2Config config = sk::read_config(path);
    const sk::ParameterLayout layout(config);
    if (layout.size() <= (1u << 20)) {
      std::vector<float> weights(layout.size());
      sk::read_weights(path, layout, weights.data());
    }
  } catch (const sk::Error&) {
  }
  // Every HDF5 object the reader opened is closed again, also on refusal.
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) throw std::logic_error("HDF5 objects left open");
  return 0;
}
