// Checkpoints (io/checkpoint.hpp): any bytes as an HDF5 file are either
// refused with sk::Error or give the state and the tensors of the model they
// declare: the whole optimizer state, and also each half as one of two ranks
// would read it. Shapes above a million parameters are only checked.
#include "checkpoint.hpp"
#include "error.hpp"
#include "fuzz_input.hpp"

#include <hdf5.h>

#include <stdexcept>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sk::fuzz::scratch_file(data, size, ".h5");
  try {
    const sk::CheckpointInfo info = sk::read_checkpoint_info(path);
    const sk::ParameterLayout layout(info.config);
    const std::size_t n = layout.size();
    if (n <= (1u << 20)) {
      // The state buffers of the optimizer the file names.
      const std::vector<std::string> names = sk::optimizer_state_names(info.optimizer_type);
      std::vector<float> params(n), first(n), second(n);
      const std::vector<std::pair<std::string, float*>> buffers = {{names[0], first.data()}, {names[1], second.data()}};
      for (const auto& [begin, end] : {std::pair<std::size_t, std::size_t>{0, n}, {0, n / 2}, {n / 2, n}})
        sk::read_checkpoint(path, layout, params.data(), buffers, begin, end);
    }
  } catch (const sk::Error&) {
  }
  // Every HDF5 object the reader opened is closed again, also on refusal.
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) throw std::logic_error("HDF5 objects left open");
  return 0;
}
