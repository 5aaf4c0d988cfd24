// View types shared by all kernels. Tensors are row-major (LayoutRight), like
// PyTorch's, so names and shapes in comments read the same as in the weights
// file. Parameter and gradient tensors are unmanaged views into one flat
// buffer (see src/parameters.hpp), so kernels take them as unmanaged.
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

// A contiguous 2-D tensor seen as one row of all its elements, so elementwise
// kernels index it directly instead of dividing by the row length.
template <class View>
Kokkos::View<typename View::value_type*, Kokkos::LayoutRight, MemSpace, Unmanaged> flat(const View& v) {
  return Kokkos::View<typename View::value_type*, Kokkos::LayoutRight, MemSpace, Unmanaged>(v.data(), v.size());
}

using RangePolicy = Kokkos::RangePolicy<ExecSpace>;
// Iterating right (the last index innermost, as in LayoutRight) is the CPU
// default; named here so that every backend and Kokkos version gives the last
// index the widest tile (CUDA tiles of 2 x 16 in Kokkos 4.6: half-warps read 16
// consecutive columns).
using Range2D = Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2, Kokkos::Iterate::Right, Kokkos::Iterate::Right>>;
using TeamPolicy = Kokkos::TeamPolicy<ExecSpace>;
using Member = TeamPolicy::member_type;

}  // namespace sk
