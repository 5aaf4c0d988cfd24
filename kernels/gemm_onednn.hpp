// Float gemms through oneDNN's matmul primitive, for host backends. oneDNN
// picks AVX-512 (and AVX512-BF16) kernels by the CPU it runs on, where a
// distribution's BLAS may be pinned to older ones (Debian's OpenBLAS under
// OPENBLAS_CORETYPE=Haswell). No Kokkos here: kblas::gemm (compat.hpp) turns
// views into the strided matrices below, and this file compiles with the host
// compiler in any build.
#pragma once

namespace sk::onednn {

// rows x cols elements of a matrix in host memory, element (i, j) at
// data[i * row_stride + j * col_stride]: a row-major view or a sub-view of one.
template <class T>
struct Strided {
  T* data;
  long rows, cols, row_stride, col_stride;
};

// c = alpha op(a) op(b) + beta c, op transposing when ta / tb. The matmul
// primitive of each distinct call (shapes, strides, transposes, alpha, beta)
// is created on its first use and kept for the life of the process: creating
// one costs far more than a small gemm. beta = 0 leaves c's old contents
// unread, as BLAS does.
void gemm(bool ta, bool tb, float alpha, Strided<const float> a, Strided<const float> b, float beta,
          Strided<float> c);

}  // namespace sk::onednn
