// Helpers that tests of every layer share: device buffers with a host copy,
// token ids on the device, and device views read back to the host.
#pragma once
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include "views.hpp"

namespace sk_test {

// A [rows, cols] buffer of T on the device (cols = 1: a vector), with a host
// mirror to set and read values, and unmanaged views of the kernels' types.
template <class T>
struct DeviceBuffer {
  int rows, cols;
  sk::View1<T> dev;
  typename sk::View1<T>::HostMirror host;

  explicit DeviceBuffer(std::size_t r, int c = 1)
      : rows(int(r)), cols(c), dev("buffer", r * c), host(Kokkos::create_mirror_view(dev)) {}
  // Holding `values`, uploaded.
  explicit DeviceBuffer(const std::vector<T>& values) : DeviceBuffer(values.size()) {
    for (std::size_t i = 0; i < values.size(); ++i) host(i) = values[i];
    upload();
  }
  int size() const { return rows * cols; }
  sk::Tensor2<T> t() const { return sk::Tensor2<T>(dev.data(), rows, cols); }
  sk::Tensor2<T> t2(int r, int c) const { return sk::Tensor2<T>(dev.data(), r, c); }  // another shape
  sk::Tensor1<T> t1() const { return sk::Tensor1<T>(dev.data(), size()); }          // all entries as one vector
  T& operator()(int r, int c) const { return host(std::size_t(r) * cols + c); }
  T& operator[](int i) const { return host(i); }
  void upload() const { Kokkos::deep_copy(dev, host); }
  void download() const { Kokkos::deep_copy(host, dev); }
  // Device values, read back to the host.
  std::vector<T> values() const {
    download();
    return std::vector<T>(host.data(), host.data() + size());
  }
};

// n normal(mean, sd) values on the device.
template <class T>
DeviceBuffer<T> random_vec(std::size_t n, std::mt19937& rng, double mean = 0, double sd = 1) {
  DeviceBuffer<T> v(n);
  std::normal_distribution<double> dist(mean, sd);
  for (std::size_t i = 0; i < n; ++i) v.host(i) = T(dist(rng));
  v.upload();
  return v;
}

// Whether two float vectors hold the same bits (not only equal values).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Token ids [B, T] on the device from host values in row-major order.
inline sk::TokenView make_tokens(int B, int T, const std::vector<int>& ids) {
  Kokkos::View<int**, Kokkos::LayoutRight, sk::MemSpace> tok("tokens", B, T);
  auto h = Kokkos::create_mirror_view(tok);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) h(b, t) = ids[std::size_t(b) * T + t];
  Kokkos::deep_copy(tok, h);
  return tok;
}

// A host copy of a device view.
template <class V>
auto on_host(const V& v) {
  auto h = Kokkos::create_mirror_view(v);
  Kokkos::deep_copy(h, v);
  return h;
}

}  // namespace sk_test
