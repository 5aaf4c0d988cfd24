#include "gemm_onednn.hpp"

#include <map>
#include <mutex>
#include <tuple>

#include <oneapi/dnnl/dnnl.hpp>
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

namespace sk::onednn {

namespace {

using dims = dnnl::memory::dims;

// op(m) as oneDNN sees it: logical dimensions and strides, a transpose being
// the same memory with the dimensions and strides swapped. oneDNN takes any
// strides, so sub-views need no copy.
dnnl::memory::desc logical(const Strided<const float>& m, bool transposed) {
  return transposed ? dnnl::memory::desc(dims{m.cols, m.rows}, dnnl::memory::data_type::f32, dims{m.col_stride, m.row_stride})
                    : dnnl::memory::desc(dims{m.rows, m.cols}, dnnl::memory::data_type::f32, dims{m.row_stride, m.col_stride});
}

// Everything a primitive is specialised on. The data type of the inputs is
// the one to add when a bf16 path (or oneDNN's fpmath_mode) joins.
struct Key {
  bool ta, tb;
  long m, n, k, a_strides[2], b_strides[2], c_strides[2];
  float alpha, beta;
  bool operator<(const Key& o) const {
    auto tie = [](const Key& x) {
      return std::tie(x.ta, x.tb, x.m, x.n, x.k, x.a_strides[0], x.a_strides[1], x.b_strides[0], x.b_strides[1],
                      x.c_strides[0], x.c_strides[1], x.alpha, x.beta);
    };
    return tie(*this) < tie(o);
  }
};

// Products of fewer multiply-adds than this run on one thread. Their share
// of work is a few microseconds, less than waking a second thread costs, and
// on a shared machine a second thread may wait milliseconds for a core: the
// attention's 128x32x128 products ran at 10 GFLOP/s on 2 threads and 139 on
// one (OpenBLAS keeps such sizes on one thread as well).
constexpr double kOneThreadMacs = 1 << 22;

// Runs f with oneDNN on one thread where `one` says so. oneDNN on OpenMP
// sizes its work by omp_get_max_threads() when it creates a primitive and
// when it runs one, so both happen under the same setting.
template <class F>
void on_threads(bool one, F f) {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  const int threads = omp_get_max_threads();
  if (one) omp_set_num_threads(1);
  f();
  if (one) omp_set_num_threads(threads);
#else
  (void)one;
  f();
#endif
}

dnnl::engine& cpu() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// alpha scales the product (oneDNN 2.x output scales); beta c is added by a
// sum post-op, which reads c only when present.
dnnl::matmul create(const Key& key, const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                    const dnnl::memory::desc& c) {
  dnnl::primitive_attr attr;
  if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
  if (key.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(key.beta);
    attr.set_post_ops(ops);
  }
  return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, cpu()));
}

}  // namespace

void gemm(bool ta, bool tb, float alpha, Strided<const float> a, Strided<const float> b, float beta,
          Strided<float> c) {
  const dnnl::memory::desc a_md = logical(a, ta), b_md = logical(b, tb);
  const dnnl::memory::desc c_md(dims{c.rows, c.cols}, dnnl::memory::data_type::f32, dims{c.row_stride, c.col_stride});
  const Key key{ta, tb, c.rows, c.cols, ta ? a.rows : a.cols, {a.row_stride, a.col_stride}, {b.row_stride, b.col_stride},
                {c.row_stride, c.col_stride}, alpha, beta};
  // The lock keeps the cache whole should gemms ever be called from several threads.
  static std::mutex mutex;
  static std::map<Key, dnnl::matmul> cache;
  const bool one_thread = double(key.m) * key.n * key.k < kOneThreadMacs;
  static dnnl::stream stream(cpu());
  on_threads(one_thread, [&] {
    dnnl::matmul* prim;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = cache.find(key);
      if (it == cache.end()) it = cache.emplace(key, create(key, a_md, b_md, c_md)).first;
      prim = &it->second;
    }
    // Memory objects only wrap the caller's pointers: cheap to make per call.
    prim->execute(stream, {{DNNL_ARG_SRC, dnnl::memory(a_md, cpu(), const_cast<float*>(a.data))},
                           {DNNL_ARG_WEIGHTS, dnnl::memory(b_md, cpu(), const_cast<float*>(b.data))},
                           {DNNL_ARG_DST, dnnl::memory(c_md, cpu(), c.data)}});
    stream.wait();
  });
}

}  // namespace sk::onednn
