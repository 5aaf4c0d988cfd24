// Linear layers through KokkosBlas (host BLAS on CPUs, cuBLAS/rocBLAS on GPUs).
// Weights are stored [OC, IC] as in PyTorch's nn.Linear.
#pragma once
#include "lanes.hpp"
#include "views.hpp"

namespace sk {

// out[N, OC] = inp[N, IC] . weight[OC, IC]^T + bias[OC]; bias may be empty
// (the LM head has none).
template <class T>
void matmul_forward(Tensor2<T> out, ConstTensor2<T> inp, ConstTensor2<T> weight, ConstTensor1<T> bias,
                    const ExecSpace& space = ExecSpace()) {
  const int OC = out.extent(1);
  T beta = 0;
  if (bias.extent(0) > 0) {
    // Start from the broadcast bias and let gemm add the product to it.
    Kokkos::parallel_for("matmul_forward_bias", TeamPolicy(space, out.extent(0), Kokkos::AUTO),
                         KOKKOS_LAMBDA(const Member& team) {
      T* row = &out(team.league_rank(), 0);
      for_lane_groups(team, OC, [&](int o, int) { row[o] = bias(o); });
    });
    beta = 1;
  }
  kblas::gemm(space, "N", "T", T(1), inp, weight, beta, out);
}

// dinp[N, IC] = dout[N, OC] . weight[OC, IC]       (overwritten: a scratch buffer)
// dweight[OC, IC] += dout^T . inp                   (+=: accumulates over micro-batches,
// dbias[OC] += ones[N] . dout                        and dwte also takes the encoder's part)
// ones is a vector of N ones, so the bias gradient is a BLAS call too, in fp32
// even where the gemms run in bf16 (one conversion of dout fewer). It is a
// gemm on [1, N] and [1, OC] matrices: KokkosBlas' gemv would unify rank-1
// layouts to LayoutLeft and miss the BLAS library for row-major matrices.
template <class T>
void matmul_backward(Tensor2<T> dinp, Tensor2<T> dweight, Tensor1<T> dbias, ConstTensor2<T> dout,
                     ConstTensor2<T> inp, ConstTensor2<T> weight, ConstTensor1<T> ones,
                     const ExecSpace& space = ExecSpace()) {
  const kblas::ConvertOnce dout_once(space, dout);  // read by two gemms
  kblas::gemm(space, "N", "N", T(1), dout, weight, T(0), dinp);
  if (dweight.extent(0) == 0) return;  // the input's gradient only (an HVP without the gradient)
  kblas::gemm(space, "T", "N", T(1), dout, inp, T(1), dweight);
  if (dbias.extent(0) > 0) {
    ConstTensor2<T> ones_row(ones.data(), 1, ones.extent(0));
    Tensor2<T> dbias_row(dbias.data(), 1, dbias.extent(0));
    kblas::gemm_fp32(space, "N", "N", T(1), ones_row, dout, T(1), dbias_row);
  }
}

// Tangent of the forward (the R-operator), for tangents inp_dot, weight_dot, bias_dot:
// out_dot[N, OC] = inp_dot . weight^T + inp . weight_dot^T + bias_dot
template <class T>
void matmul_forward_tangent(Tensor2<T> out_dot, ConstTensor2<T> inp, ConstTensor2<T> inp_dot, ConstTensor2<T> weight,
                            ConstTensor2<T> weight_dot, ConstTensor1<T> bias_dot, const ExecSpace& space = ExecSpace()) {
  matmul_forward<T>(out_dot, inp_dot, weight, bias_dot, space);
  kblas::gemm(space, "N", "T", T(1), inp, weight_dot, T(1), out_dot);
}

// Tangent of the backward, for the upstream gradient's tangent rdout [N, OC]:
//   rdinp     = rdout . weight + dout . weight_dot          (overwritten)
//   rdweight += rdout^T . inp + dout^T . inp_dot
//   rdbias   += ones . rdout
// The rdout terms are matmul_backward itself (it is linear in dout).
template <class T>
void matmul_backward_tangent(Tensor2<T> rdinp, Tensor2<T> rdweight, Tensor1<T> rdbias, ConstTensor2<T> dout,
                             ConstTensor2<T> rdout, ConstTensor2<T> inp, ConstTensor2<T> inp_dot,
                             ConstTensor2<T> weight, ConstTensor2<T> weight_dot, ConstTensor1<T> ones,
                             const ExecSpace& space = ExecSpace()) {
  matmul_backward<T>(rdinp, rdweight, rdbias, rdout, inp, weight, ones, space);
  const kblas::ConvertOnce dout_once(space, dout);
  kblas::gemm(space, "N", "N", T(1), dout, weight_dot, T(1), rdinp);
  kblas::gemm(space, "T", "N", T(1), dout, inp_dot, T(1), rdweight);
}

}  // namespace sk
