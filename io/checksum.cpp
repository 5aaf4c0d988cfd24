#include "checksum.hpp"

#include <algorithm>

namespace sk {

// On x86-64, GCC also builds an AVX2 version, twice as fast, which the loader
// picks on CPUs that have it. (Not under nvcc, whose front end may reject it.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define SK_CHECKSUM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SK_CHECKSUM_CLONES
#endif

SK_CHECKSUM_CLONES std::uint32_t fletcher32(const unsigned char* data, std::size_t bytes) {
  std::uint32_t sum1 = 0, sum2 = 0;
  for (std::size_t words = bytes / 2; words > 0;) {
    // A block of n words (big-endian 16-bit) without folding, as the library
    // sums it: sum1 += w_i; sum2 += sum1 for each i, which is
    // sum2 += n * sum1 + sum (n - i) w_i, and sum1 += sum w_i. With n <= 360
    // both sums below fit 32 bits, and the loop vectorises.
    const std::size_t n = std::min<std::size_t>(words, 360);
    std::uint32_t plain = 0, indexed = 0;  // sum w_i, sum i w_i
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t w = (std::uint32_t(data[2 * i]) << 8) | data[2 * i + 1];
      plain += w;
      indexed += std::uint32_t(i) * w;
    }
    const std::uint64_t weighted = n * std::uint64_t(plain) - indexed;
    sum2 = std::uint32_t(sum2 + n * std::uint64_t(sum1) + weighted);
    sum1 = std::uint32_t(sum1 + plain);
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    data += 2 * n;
    words -= n;
  }
  if (bytes % 2) {  // a last odd byte counts as the high half of a word
    sum1 += std::uint32_t(*data) << 8;
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  return (sum2 << 16) | sum1;
}

}  // namespace sk
