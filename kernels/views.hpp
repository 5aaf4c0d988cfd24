// View types shared by all kernels. Tensors are row-major (LayoutRight), like
// PyTorch's, so names and shapes in comments read the same as in the weights
// file. Parameter and gradient tensors are unmanaged views into one flat
// buffer (see src/core/parameters.hpp), so kernels take them as unmanaged.
#pragma once
#include "compat.hpp"

namespace sk {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;
using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;

template <class T> using View1 = Kokkos::View<T*, Kokkos::LayoutRight, MemSpace>;
template <class T> using View2 = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;

// Views into a flat buffer (parameters, gradients, activations).
template <class T> using Tensor1 = Kokkos::View<T*, Kokkos::LayoutRight, MemSpace, Unmanaged>;
template <class T> using Tensor2 = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace, Unmanaged>;
template <class T> using ConstTensor1 = Kokkos::View<const T*, Kokkos::LayoutRight, MemSpace, Unmanaged>;
template <class T> using ConstTensor2 = Kokkos::View<const T**, Kokkos::LayoutRight, MemSpace, Unmanaged>;

// Token ids of a batch, [B, T].
using TokenView = Kokkos::View<const int**, Kokkos::LayoutRight, MemSpace>;
// Token ids of rows n0 .. n0+n of a batch's B*T rows, [n] (the rows of a chunk).
using RowTokens = Kokkos::View<const int*, Kokkos::LayoutRight, MemSpace, Unmanaged>;
inline RowTokens row_tokens(const TokenView& tokens, int n0, int n) { return RowTokens(tokens.data() + n0, n); }

// A contiguous 2-D tensor seen as one row of all its elements, so elementwise
// kernels index it directly instead of dividing by the row length.
template <class View>
Kokkos::View<typename View::value_type*, Kokkos::LayoutRight, MemSpace, Unmanaged> flat(const View& v) {
  return Kokkos::View<typename View::value_type*, Kokkos::LayoutRight, MemSpace, Unmanaged>(v.data(), v.size());
}

// The policies below take the caller's instance first, e.g. RangePolicy(space,
// 0, n): every kernel entry point ends with `const ExecSpace& space =
// ExecSpace()` and launches there, so that callers may put work on streams of
// their own (and the gradient reducer fence only its instance).
//
// int indices, the type kernels take: with the default (the space's size_type)
// the host loop runs over 64-bit indices that each kernel narrows to int, and
// compilers then no longer see consecutive accesses and do not vectorise.
using RangePolicy = Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<int>>;
// Iterating right (the last index innermost, as in LayoutRight) is the CPU
// default; named here so that every backend and Kokkos version gives the last
// index the widest tile (CUDA tiles of 2 x 16 in Kokkos 4.6: half-warps read 16
// consecutive columns).
using Range2D = Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2, Kokkos::Iterate::Right, Kokkos::Iterate::Right>>;
using TeamPolicy = Kokkos::TeamPolicy<ExecSpace>;
using Member = TeamPolicy::member_type;

}  // namespace sk
