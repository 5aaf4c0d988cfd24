// sophia-kokkos grad: loss and gradients of one batch, written to HDF5.
#include <cstdio>

#include "commands.hpp"
#include "one_batch.hpp"
#include "weights.hpp"

namespace sk {

int cmd_grad(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("grad",
               "Runs GPT-2's forward and backward pass on the first B*T+1 tokens of a token file and\n"
               "writes the mean loss (/loss) and every parameter's gradient (/grad/<name>) to HDF5.");
  add_one_batch_options(opts);
  opts.add("--out", "FILE.h5", "where to write the loss and gradients");
  add_precision_option(opts);
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  use_precision_option(opts, "grad");
  OneBatch one = load_one_batch("grad", opts, mpi, {});
  GPT2<float>& model = *one.model;
  model.zero_grad();
  const float loss = model.forward(one.batch.inputs, one.batch.targets);
  model.backward();
  if (mpi.rank() == 0) {
    auto host = Kokkos::create_mirror_view(model.grads);
    Kokkos::deep_copy(host, model.grads);
    write_gradients(one.out, one.config, model.layout(), host.data(), loss);
    std::printf("loss %.7f\n", loss);
  }
  return 0;
}

}  // namespace sk
