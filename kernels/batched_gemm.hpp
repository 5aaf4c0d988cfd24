// Strided-batched matrix products of contiguous row-major matrices: one
// cuBLAS call for the whole batch on CUDA (cublas<t>gemmStridedBatched, on
// KokkosKernels' cuBLAS handle and the stream of the instance it is given;
// cublasGemmStridedBatchedEx on bf16 inputs where the gemms run in bf16), a
// kblas::gemm per matrix elsewhere. And the switch for cuBLAS' TF32 math.
#pragma once
#include <type_traits>

#include "views.hpp"

#if defined(KOKKOS_ENABLE_CUDA)
#include <KokkosBlas_tpl_spec.hpp>
#include <cublas_v2.h>
#endif

namespace sk {

// batch matrices of rows x cols, each rows * cols elements after the last.
template <class T>
struct MatrixBatch {
  T* data;
  int rows, cols;
  std::size_t stride() const { return std::size_t(rows) * cols; }
};

// c[i] = op(a[i]) . op(b[i]) + beta c[i] for i < batch; op is "N" or "T".
template <class T>
void batched_gemm(const char* ta, const char* tb, int batch, MatrixBatch<const T> a, MatrixBatch<const T> b, T beta,
                  MatrixBatch<T> c, const ExecSpace& space = ExecSpace()) {
  const bool at = *ta == 'T', bt = *tb == 'T';
  const int M = at ? a.cols : a.rows, K = at ? a.rows : a.cols, N = bt ? b.rows : b.cols;
  // A region, so that profiling tools (bench --breakdown) see the cuBLAS call
  // as they see KokkosBlas' gemms.
  Kokkos::Profiling::pushRegion("batched_gemm");
#if defined(KOKKOS_ENABLE_CUDA)
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the
  // operands swap and keep their transpose flags.
  if constexpr (std::is_same<T, float>::value) {
    if (kblas::gemm_precision() == kblas::GemmPrecision::bf16) {
      cuda_bf16::batched_gemm(space, at, bt, batch, M, N, K, a.data, a.rows, a.cols, b.data, b.rows, b.cols, beta,
                              c.data);
      Kokkos::Profiling::popRegion();
      return;
    }
  }
  cublasHandle_t handle = KokkosBlas::Impl::CudaBlasSingleton::singleton().handle;
  cublasSetStream(handle, space.cuda_stream());
  const cublasOperation_t op_a = at ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = bt ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T one = 1;
  cublasStatus_t status;
  if constexpr (std::is_same<T, float>::value)
    status = cublasSgemmStridedBatched(handle, op_b, op_a, N, M, K, &one, b.data, b.cols, (long long)b.stride(), a.data,
                                       a.cols, (long long)a.stride(), &beta, c.data, c.cols, (long long)c.stride(), batch);
  else
    status = cublasDgemmStridedBatched(handle, op_b, op_a, N, M, K, &one, b.data, b.cols, (long long)b.stride(), a.data,
                                       a.cols, (long long)a.stride(), &beta, c.data, c.cols, (long long)c.stride(), batch);
  if (status != CUBLAS_STATUS_SUCCESS) KokkosBlas::Impl::cublas_internal_error_throw(status, "batched_gemm", __FILE__, __LINE__);
#else
  (void)M, (void)K, (void)N;
  for (int i = 0; i < batch; ++i)
    kblas::gemm(space, ta, tb, T(1), ConstTensor2<T>(a.data + i * a.stride(), a.rows, a.cols),
                ConstTensor2<T>(b.data + i * b.stride(), b.rows, b.cols), beta,
                Tensor2<T>(c.data + i * c.stride(), c.rows, c.cols));
#endif
  Kokkos::Profiling::popRegion();
}

// TF32 tensor-core math for float gemms (cuBLAS' CUBLAS_TF32_TENSOR_OP_MATH:
// inputs rounded to 10 mantissa bits, float accumulation). Returns whether
// the backend has it: only CUDA; elsewhere nothing changes.
inline bool set_gemm_tf32(bool on) {
#if defined(KOKKOS_ENABLE_CUDA)
  const cublasStatus_t status = cublasSetMathMode(KokkosBlas::Impl::CudaBlasSingleton::singleton().handle,
                                                  on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  if (status != CUBLAS_STATUS_SUCCESS) KokkosBlas::Impl::cublas_internal_error_throw(status, "set_gemm_tf32", __FILE__, __LINE__);
  return true;
#else
  return !on;
#endif
}

}  // namespace sk
