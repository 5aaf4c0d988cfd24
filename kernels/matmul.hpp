// Linear layers through KokkosBlas (host BLAS on CPUs, cuBLAS/rocBLAS on GPUs).
// Weights are stored [OC, IC] as in PyTorch's nn.Linear.
#pragma once
#include <KokkosBlas2_gemv.hpp>
#include <KokkosBlas3_gemm.hpp>

#include "views.hpp"

namespace sk {

// out[N, OC] = inp[N, IC] . weight[OC, IC]^T + bias[OC]; bias may be empty
// (the LM head has none).
template <class T>
void matmul_forward(Tensor2<T> out, ConstTensor2<T> inp, ConstTensor2<T> weight, ConstTensor1<T> bias) {
  const int OC = out.extent(1);
  T beta = 0;
  if (bias.extent(0) > 0) {
    // Start from the broadcast bias and let gemm add the product to it.
    Kokkos::parallel_for("matmul_forward_bias", RangePolicy(0, out.extent(0) * OC), KOKKOS_LAMBDA(const int i) {
      out(i / OC, i % OC) = bias(i % OC);
    });
    beta = 1;
  }
  KokkosBlas::gemm("N", "T", T(1), inp, weight, beta, out);
}

// dinp[N, IC] = dout[N, OC] . weight[OC, IC]       (overwritten: a scratch buffer)
// dweight[OC, IC] += dout^T . inp                   (+=: accumulates over micro-batches,
// dbias[OC] += dout^T . ones[N]                      and dwte also takes the encoder's part)
// ones is a vector of N ones, so the bias gradient is a BLAS gemv too.
template <class T>
void matmul_backward(Tensor2<T> dinp, Tensor2<T> dweight, Tensor1<T> dbias, ConstTensor2<T> dout,
                     ConstTensor2<T> inp, ConstTensor2<T> weight, ConstTensor1<T> ones) {
  KokkosBlas::gemm("N", "N", T(1), dout, weight, T(0), dinp);
  KokkosBlas::gemm("T", "N", T(1), dout, inp, T(1), dweight);
  if (dbias.extent(0) > 0) KokkosBlas::gemv("T", T(1), dout, ones, T(1), dbias);
}

}  // namespace sk
