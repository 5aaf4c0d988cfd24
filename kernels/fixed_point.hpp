// Sums of float buffers whose bits do not depend on the order of the addends:
// each addend becomes a 128-bit fixed-point number, exactly where it can, and
// integer addition is associative. Data parallelism sums gradients over
// micro-batches and ranks this way (parallel.reduction = "exact"), so that a
// run's bits do not depend on how its micro-batches fall on ranks.
//
// A number is hi * 2^-26 + lo * 2^-90: hi signed, lo unsigned. Floats of
// magnitude in [2^-67, 2^24) convert exactly; smaller ones are rounded toward
// zero to the 2^-90 grid (below any gradient that matters); larger ones, and NaN or
// inf, are out of range and counted. Sums of up to 2^13 in-range addends stay
// below 2^37, the largest magnitude hi holds.
#pragma once
#include <cstdint>

#include "views.hpp"

namespace sk {

struct FixedPoint {
  std::int64_t hi;
  std::uint64_t lo;
};

// The magnitude below which a float converts exactly (or to the grid).
constexpr double kFixedPointRange = 0x1p24;

// -a, in two's complement over the 128 bits.
KOKKOS_INLINE_FUNCTION FixedPoint negated(FixedPoint a) {
  const std::uint64_t lo = ~a.lo + 1;
  return {std::int64_t(~std::uint64_t(a.hi) + (lo == 0 ? 1u : 0u)), lo};
}

KOKKOS_INLINE_FUNCTION FixedPoint operator+(FixedPoint a, FixedPoint b) {
  const std::uint64_t lo = a.lo + b.lo;
  // Unsigned addition for hi, whose wrap-around is defined; the carry out of lo.
  const std::uint64_t hi = std::uint64_t(a.hi) + std::uint64_t(b.hi) + (lo < a.lo ? 1u : 0u);
  return {std::int64_t(hi), lo};
}

// The magnitude converts, and the sign is applied in integers: the fraction
// of a negative number's floor would need more bits than a double has.
KOKKOS_INLINE_FUNCTION FixedPoint to_fixed_point(float x) {
  const double y = kmath::fabs(double(x)) * 0x1p26;  // exact: a power of two
  const double h = kmath::floor(y);
  // y - h is |x|'s bits below 2^-26, in [0, 1); times 2^64 they are an
  // integer wherever |x| >= 2^-67, and the conversion truncates the rest.
  const FixedPoint a{std::int64_t(h), std::uint64_t((y - h) * 0x1p64)};
  return x < 0 ? negated(a) : a;
}

// The nearest float, through double: a fixed function of the bits, so equal
// sums round to equal floats. Negative numbers are negated first, so that hi
// and lo never cancel in floating point.
KOKKOS_INLINE_FUNCTION float to_float(FixedPoint a) {
  const bool negative = a.hi < 0;
  if (negative) a = negated(a);
  const double magnitude = double(std::uint64_t(a.hi)) * 0x1p-26 + double(a.lo) * 0x1p-90;
  return float(negative ? -magnitude : magnitude);
}

// sum += x element by element; adds the number of x's elements out of range
// (NaN, inf or magnitude 2^24 and above, which add nothing) to *out_of_range.
inline void fixed_point_add(const View1<FixedPoint>& sum, const View1<const float>& x,
                            const Kokkos::View<long, MemSpace>& out_of_range, const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_for(
      "fixed_point_add", RangePolicy(space, 0, int(x.extent(0))), KOKKOS_LAMBDA(const int i) {
        const float v = x(i);
        if (!(kmath::fabs(double(v)) < kFixedPointRange)) {  // NaN fails the comparison too
          Kokkos::atomic_add(&out_of_range(), 1L);
          return;
        }
        sum(i) = sum(i) + to_fixed_point(v);
      });
}

// out = sum rounded to float, element by element.
inline void fixed_point_round(const View1<float>& out, const View1<const FixedPoint>& sum,
                              const ExecSpace& space = ExecSpace()) {
  Kokkos::parallel_for(
      "fixed_point_round", RangePolicy(space, 0, int(out.extent(0))),
      KOKKOS_LAMBDA(const int i) { out(i) = to_float(sum(i)); });
}

}  // namespace sk
