// sophia-kokkos hvp: an exact Hessian-vector product of one batch's mean
// loss, H.v, and Hutchinson's u * (H u) for u = v, written to HDF5.
#include <climits>
#include <cstdio>
#include <vector>

#include "choices.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "one_batch.hpp"
#include "probe.hpp"
#include "weights.hpp"

namespace sk {
namespace {

// The direction of --direction: a seeded probe, or the tensors of a file's
// /grad group (a gradient file's layout, e.g. grad's output).
std::vector<float> read_direction(const Options& opts, const ParameterLayout& layout) {
  std::vector<float> v(layout.size());
  const std::string d = opts.str("--direction");
  if (const auto kind = named<Probe>(d)) {
    View1<float> drawn("direction", layout.size());
    draw_probe(layout, *kind, std::uint64_t(opts.integer("--direction-seed", 0, LONG_MAX)), drawn);
    Kokkos::deep_copy(Kokkos::View<float*, Kokkos::HostSpace, Unmanaged>(v.data(), v.size()), drawn);
  } else {
    read_tensors(d, "grad", layout, v.data(), true);
  }
  return v;
}

}  // namespace

int cmd_hvp(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("hvp",
               "Runs GPT-2's forward and backward pass on the first B*T+1 tokens of a token file with\n"
               "their tangents along a direction v (forward-over-reverse) and writes the mean loss\n"
               "(/loss), v (/direction/<name>), the Hessian-vector product H.v (/hvp/<name>) and\n"
               "v * (H.v) (/uhu/<name>, Hutchinson's diagonal estimate for a random v) to HDF5.");
  add_one_batch_options(opts);
  opts.add("--direction", "gaussian|rademacher|FILE.h5",
           "v: a seeded probe, or a file holding /grad/<name> for every parameter", "gaussian");
  opts.add("--direction-seed", "N", "seed of a gaussian or rademacher direction", "0");
  opts.add("--out", "FILE.h5", "where to write the loss, the direction and the products");
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  const std::string d = opts.str("--direction");
  std::vector<FileArg> direction_file;
  if (!named<Probe>(d)) direction_file.push_back({"--direction", d});
  OneBatch one = load_one_batch("hvp", opts, mpi, direction_file, 2);  // v and H.v
  GPT2<float>& model = *one.model;
  const ParameterLayout& layout = model.layout();
  const std::vector<float> v = read_direction(opts, layout);

  View1<float> v_dev("direction", layout.size()), hv_dev("hvp", layout.size());
  Kokkos::deep_copy(v_dev, Kokkos::View<const float*, Kokkos::HostSpace, Unmanaged>(v.data(), v.size()));
  const float loss = model.hvp(one.batch.inputs, one.batch.targets, v_dev, hv_dev, {}, GPT2<float>::HvpGradient::skip);
  std::vector<float> hv(layout.size()), uhu(layout.size());
  Kokkos::deep_copy(Kokkos::View<float*, Kokkos::HostSpace, Unmanaged>(hv.data(), hv.size()), hv_dev);
  for (std::size_t i = 0; i < hv.size(); ++i) uhu[i] = v[i] * hv[i];
  if (mpi.rank() == 0) {
    write_tensor_groups<float>(one.out, one.config, layout, loss,
                               {{"direction", v.data()}, {"hvp", hv.data()}, {"uhu", uhu.data()}});
    std::printf("loss %.7f\n", loss);
  }
  return 0;
}

}  // namespace sk
