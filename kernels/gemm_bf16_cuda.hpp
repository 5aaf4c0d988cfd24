// bf16 gemms on CUDA (train.precision = "bf16"): both operands rounded to
// bf16 (nearest even) into device scratch on the caller's stream, then
// cuBLAS' cublasGemmEx (cublasGemmStridedBatchedEx for the attention's
// batches) with bf16 inputs, f32 accumulation (CUBLAS_COMPUTE_32F) and an f32
// result: the products the host's oneDNN bf16 gemms compute. Unlike the host,
// no bf16 copy of the weights is kept: each call converts its operands,
// O(rows x cols) memory traffic against the product's O(M N K) work.
// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, so the
// operands swap and keep their transpose flags, as in batched_gemm.hpp.
#pragma once
#if defined(KOKKOS_ENABLE_CUDA)
#include <Kokkos_Core.hpp>
#include <KokkosBlas_tpl_spec.hpp>
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace sk::cuda_bf16 {

// The converted operands' device memory, grown on demand and freed when
// Kokkos finalizes. Calls on one stream reuse it in stream order; a call on
// another stream first waits for the last user's.
struct Scratch {
  Kokkos::View<std::uint16_t*, Kokkos::CudaSpace> buffer;
  cudaStream_t last = nullptr;
};

inline Scratch& scratch() {
  static Scratch* s = [] {
    auto* made = new Scratch;
    Kokkos::push_finalize_hook([made] { made->buffer = {}; });
    return made;
  }();
  return *s;
}

// Room for n bf16 values, usable on space's stream.
inline __nv_bfloat16* scratch_for(const Kokkos::Cuda& space, std::size_t n) {
  Scratch& s = scratch();
  if (s.last && s.last != space.cuda_stream()) cudaStreamSynchronize(s.last);
  s.last = space.cuda_stream();
  if (s.buffer.extent(0) < n) {
    space.fence();  // earlier kernels on the stream may still read the old buffer
    s.buffer = {};
    s.buffer = Kokkos::View<std::uint16_t*, Kokkos::CudaSpace>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, "bf16_gemm_operands"), n);
  }
  return reinterpret_cast<__nv_bfloat16*>(s.buffer.data());
}

// out[i * cols + j] = bf16(m(i, j)): a strided 2-D view packed row-major.
template <class View>
void round_to_bf16(const Kokkos::Cuda& space, const View& m, __nv_bfloat16* out) {
  const long cols = long(m.extent(1));
  Kokkos::parallel_for("round_to_bf16", Kokkos::RangePolicy<Kokkos::Cuda>(space, 0, long(m.size())),
                       KOKKOS_LAMBDA(long i) { out[i] = __float2bfloat16_rn(m(i / cols, i % cols)); });
}

// out[i] = bf16(in[i]) for i < n.
inline void round_to_bf16(const Kokkos::Cuda& space, const float* in, std::size_t n, __nv_bfloat16* out) {
  Kokkos::parallel_for("round_to_bf16", Kokkos::RangePolicy<Kokkos::Cuda>(space, 0, long(n)),
                       KOKKOS_LAMBDA(long i) { out[i] = __float2bfloat16_rn(in[i]); });
}

inline cublasHandle_t handle_on(const Kokkos::Cuda& space) {
  cublasHandle_t handle = KokkosBlas::Impl::CudaBlasSingleton::singleton().handle;
  cublasSetStream(handle, space.cuda_stream());
  return handle;
}

inline void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) KokkosBlas::Impl::cublas_internal_error_throw(status, what, __FILE__, __LINE__);
}

// c = alpha op(a) op(b) + beta c for float views a (M x K or K x M), b and
// c (M x N) whose rows are contiguous; a and b non-empty.
template <class A, class B, class C>
void gemm(const Kokkos::Cuda& space, bool ta, bool tb, float alpha, const A& a, const B& b, float beta, const C& c) {
  const int M = int(c.extent(0)), N = int(c.extent(1)), K = int(ta ? a.extent(0) : a.extent(1));
  if (N > 1 && c.stride(1) != 1) throw std::logic_error("bf16 gemm on CUDA: the result's rows must be contiguous");
  __nv_bfloat16* a16 = scratch_for(space, a.size() + b.size());
  __nv_bfloat16* b16 = a16 + a.size();
  round_to_bf16(space, a, a16);
  round_to_bf16(space, b, b16);
  const int ldc = M > 1 ? int(c.stride(0)) : N;
  check(cublasGemmEx(handle_on(space), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                     &alpha, b16, CUDA_R_16BF, int(b.extent(1)), a16, CUDA_R_16BF, int(a.extent(1)), &beta, c.data(),
                     CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx (bf16)");
}

// c[i] = op(a[i]) op(b[i]) + beta c[i], i < batch, for contiguous row-major
// matrices: a[i] a_rows x a_cols at a + i * a_rows * a_cols, likewise b and
// c (M x N).
inline void batched_gemm(const Kokkos::Cuda& space, bool ta, bool tb, int batch, int M, int N, int K, const float* a,
                         int a_rows, int a_cols, const float* b, int b_rows, int b_cols, float beta, float* c) {
  const std::size_t a_size = std::size_t(a_rows) * a_cols, b_size = std::size_t(b_rows) * b_cols;
  __nv_bfloat16* a16 = scratch_for(space, batch * (a_size + b_size));
  __nv_bfloat16* b16 = a16 + batch * a_size;
  round_to_bf16(space, a, batch * a_size, a16);
  round_to_bf16(space, b, batch * b_size, b16);
  const float one = 1;
  check(cublasGemmStridedBatchedEx(handle_on(space), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   N, M, K, &one, b16, CUDA_R_16BF, b_cols, (long long)b_size, a16, CUDA_R_16BF,
                                   a_cols, (long long)a_size, &beta, c, CUDA_R_32F, N, (long long)M * N, batch,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmStridedBatchedEx (bf16)");
}

}  // namespace sk::cuda_bf16
#endif
