// Float gemms through oneDNN's matmul primitive, for host backends. oneDNN
// picks AVX-512 (and AVX512-BF16) kernels by the CPU it runs on, where a
// distribution's BLAS may be pinned to older ones (Debian's OpenBLAS under
// OPENBLAS_CORETYPE=Haswell). No Kokkos here: kblas::gemm (compat.hpp) turns
// views into the strided matrices below, and this file compiles with the host
// compiler in any build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

// What this machine lacks for bf16 gemms: "" where oneDNN finds a CPU with
// bf16 instructions (AVX512-BF16 or AMX), else a sentence naming the ISA it
// found. Without them oneDNN would emulate bf16 slower than f32 runs.
std::string bf16_missing();

// A bf16 copy of a float buffer (a model's weights): bf16 gemms whose operand
// lies in the buffer read the copy at the same offset and strides instead of
// converting the operand on every call. One allocation, half the buffer's
// bytes; refresh() after the buffer changes. Registered while it lives.
class Bf16Copy {
 public:
  Bf16Copy(const float* base, std::size_t n);
  ~Bf16Copy();
  Bf16Copy(const Bf16Copy&) = delete;
  Bf16Copy& operator=(const Bf16Copy&) = delete;
  void refresh();
  std::size_t bytes() const { return copy_.size() * sizeof(std::uint16_t); }

 private:
  const float* base_;
  std::vector<std::uint16_t> copy_;
};

// A bf16 copy of a float buffer for the life of the object: bf16 gemms in
// its scope that read the buffer read the copy, converted once here, where
// each would otherwise convert it (a backward's output gradient feeds two
// gemms); nothing where a copy in force already holds the buffer. The
// buffer must not change while it lives. Copies come from a pool
// kept for the process, one per nesting level, grown and never shrunk; gemms
// and scopes run one at a time, as the model calls them.
class Bf16Scope {
 public:
  Bf16Scope(const float* base, std::size_t n);
  ~Bf16Scope();
  Bf16Scope(const Bf16Scope&) = delete;
  Bf16Scope& operator=(const Bf16Scope&) = delete;

 private:
  const float* base_;  // null where an enclosing copy serves
};

// The gemm above with inputs rounded to bf16 (nearest even), products
// accumulated and c written in f32: oneDNN's bf16 matmul. Operands inside a
// Bf16Copy's buffer are read from the copy; others are converted into a
// scratch kept for the next call (row-major, read through op()'s strides).
void gemm_bf16(bool ta, bool tb, float alpha, Strided<const float> a, Strided<const float> b, float beta,
               Strided<float> c);

}  // namespace sk::onednn
