#include "gemm_onednn.hpp"

#include <algorithm>
#include <cstring>
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
using dt = dnnl::memory::data_type;

// op(m) as oneDNN sees it: logical dimensions and strides, a transpose being
// the same memory with the dimensions and strides swapped. oneDNN takes any
// strides, so sub-views need no copy.
template <class T>
dnnl::memory::desc logical(const Strided<T>& m, bool transposed, dt type) {
  return transposed ? dnnl::memory::desc(dims{m.cols, m.rows}, type, dims{m.col_stride, m.row_stride})
                    : dnnl::memory::desc(dims{m.rows, m.cols}, type, dims{m.row_stride, m.col_stride});
}

// Everything a primitive is specialised on, the inputs' data type included.
struct Key {
  bool ta, tb;
  long m, n, k, a_strides[2], b_strides[2], c_strides[2];
  float alpha, beta;
  bool bf16;
  bool operator<(const Key& o) const {
    auto tie = [](const Key& x) {
      return std::tie(x.ta, x.tb, x.m, x.n, x.k, x.a_strides[0], x.a_strides[1], x.b_strides[0], x.b_strides[1],
                      x.c_strides[0], x.c_strides[1], x.alpha, x.beta, x.bf16);
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

// Runs the cached primitive of `key` on the inputs a (op(a): a_md) and b.
void run(const Key& key, const dnnl::memory::desc& a_md, const void* a, const dnnl::memory::desc& b_md, const void* b,
         Strided<float> c) {
  const dnnl::memory::desc c_md(dims{c.rows, c.cols}, dt::f32, dims{c.row_stride, c.col_stride});
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
    prim->execute(stream, {{DNNL_ARG_SRC, dnnl::memory(a_md, cpu(), const_cast<void*>(a))},
                           {DNNL_ARG_WEIGHTS, dnnl::memory(b_md, cpu(), const_cast<void*>(b))},
                           {DNNL_ARG_DST, dnnl::memory(c_md, cpu(), c.data)}});
    stream.wait();
  });
}

template <class T>
Key key_of(bool ta, bool tb, float alpha, const Strided<T>& a, const Strided<T>& b, float beta,
           const Strided<float>& c, bool bf16) {
  return {ta, tb, c.rows, c.cols, ta ? a.rows : a.cols, {a.row_stride, a.col_stride}, {b.row_stride, b.col_stride},
          {c.row_stride, c.col_stride}, alpha, beta, bf16};
}

}  // namespace

void gemm(bool ta, bool tb, float alpha, Strided<const float> a, Strided<const float> b, float beta,
          Strided<float> c) {
  run(key_of(ta, tb, alpha, a, b, beta, c, false), logical(a, ta, dt::f32), a.data, logical(b, tb, dt::f32), b.data,
      c);
}

// ---- bf16 ----

namespace {

// f32 to bf16, rounding to nearest even (NaN stays NaN): what oneDNN's and
// PyTorch's conversions do.
// Branch-free, so that the conversion loops vectorise.
inline std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const std::uint32_t nan = (u >> 16) | 0x40u, rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return std::uint16_t((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

// Elements from which a conversion runs on oneDNN's (OpenMP) threads. A
// conversion is bound by memory bandwidth and one core converts a layer's
// activations in well under a millisecond, while on a busy machine each
// parallel region may wait milliseconds for a second core; only the LM
// head's gradients and the weights' copy are worth the wait.
constexpr long kThreadedElements = 1 << 22;

// dst (plain row-major) = bf16(m). Rows are shared among oneDNN's threads.
void convert(const Strided<const float>& m, std::uint16_t* dst) {
  const long rows = m.rows, cols = m.cols, rs = m.row_stride, cs = m.col_stride;
  const float* src = m.data;
#pragma omp parallel for schedule(static) if (rows * cols >= kThreadedElements)
  for (long i = 0; i < rows; ++i)
    for (long j = 0; j < cols; ++j) dst[i * cols + j] = to_bf16(src[i * rs + j * cs]);
}

// dst[0, n) = bf16(src[0, n)), shared among the threads by elements (a
// buffer's one long row would otherwise go to one thread).
void convert_flat(const float* src, long n, std::uint16_t* dst) {
#pragma omp parallel for schedule(static) if (n >= kThreadedElements)
  for (long i = 0; i < n; ++i) dst[i] = to_bf16(src[i]);
}

// The registered copies, by the float buffer they mirror.
struct Mirror {
  const float* base;
  std::size_t n;
  const std::uint16_t* copy;
};
std::mutex mirrors_mutex;
std::vector<Mirror> mirrors;

void add_mirror(const Mirror& m) {
  std::lock_guard<std::mutex> lock(mirrors_mutex);
  mirrors.push_back(m);
}

// Removes the newest copy of base.
void remove_mirror(const float* base) {
  std::lock_guard<std::mutex> lock(mirrors_mutex);
  const auto it = std::find_if(mirrors.rbegin(), mirrors.rend(), [&](const Mirror& r) { return r.base == base; });
  if (it != mirrors.rend()) mirrors.erase(std::next(it).base());
}

// Bf16Scope's copies by nesting level, and the level in use.
std::vector<std::vector<std::uint16_t>> scope_pool;
std::size_t scope_depth = 0;

// Whether a registered copy holds all of base[0, n).
bool covered(const float* base, std::size_t n) {
  std::lock_guard<std::mutex> lock(mirrors_mutex);
  for (const Mirror& r : mirrors)
    if (base >= r.base && base + n <= r.base + r.n) return true;
  return false;
}

// The copy's element for m's first element, or null when m is not inside a
// registered buffer.
const std::uint16_t* mirrored(const Strided<const float>& m) {
  std::lock_guard<std::mutex> lock(mirrors_mutex);
  for (auto r = mirrors.rbegin(); r != mirrors.rend(); ++r)  // the newest first: a scope's copy is the freshest
    if (m.data >= r->base && m.data < r->base + r->n) return r->copy + (m.data - r->base);
  return nullptr;
}

// An operand as the bf16 matmul reads it: the registered copy in place, or
// m converted into `scratch` (grown, never shrunk: the largest operand's size
// is reached on the first step and reused after). The conversion keeps m's
// layout, rows in sequence, and oneDNN reads op() by strides: a transposing
// conversion would read one element per cache line.
struct Operand {
  dnnl::memory::desc md;
  const void* data;
  bool transposed;
  long strides[2];
};
Operand bf16_operand(const Strided<const float>& m, bool transposed, std::vector<std::uint16_t>& scratch) {
  if (const std::uint16_t* copy = mirrored(m)) {
    const Strided<const std::uint16_t> c{copy, m.rows, m.cols, m.row_stride, m.col_stride};
    return {logical(c, transposed, dt::bf16), copy, transposed, {m.row_stride, m.col_stride}};
  }
  if (scratch.size() < std::size_t(m.rows * m.cols)) scratch.resize(std::size_t(m.rows * m.cols));
  convert(m, scratch.data());
  const Strided<const std::uint16_t> c{scratch.data(), m.rows, m.cols, m.cols, 1};
  return {logical(c, transposed, dt::bf16), scratch.data(), transposed, {m.cols, 1}};
}

}  // namespace

std::string bf16_missing() {
  const int isa = int(dnnl::get_effective_cpu_isa()), bf16 = int(dnnl::cpu_isa::avx512_core_bf16);
  if ((isa & bf16) == bf16) return "";
  const char* names[] = {"none", "SSE4.1", "AVX", "AVX2", "AVX-512 (core)", "AVX-512 with VNNI", "AVX2 with VNNI"};
  const dnnl::cpu_isa isas[] = {dnnl::cpu_isa::all, dnnl::cpu_isa::sse41, dnnl::cpu_isa::avx, dnnl::cpu_isa::avx2,
                                dnnl::cpu_isa::avx512_core, dnnl::cpu_isa::avx512_core_vnni, dnnl::cpu_isa::avx2_vnni};
  std::string found = "an older one";
  for (int i = 0; i < 7; ++i)
    if (isa == int(isas[i])) found = names[i];
  return std::string("this CPU (as oneDNN sees it: ") + found +
         ") has no bf16 gemm instructions: bf16 needs AVX512-BF16 or AMX";
}

Bf16Copy::Bf16Copy(const float* base, std::size_t n) : base_(base), copy_(n) {
  add_mirror({base_, copy_.size(), copy_.data()});
}

Bf16Copy::~Bf16Copy() { remove_mirror(base_); }

void Bf16Copy::refresh() {
  convert_flat(base_, long(copy_.size()), copy_.data());
}

Bf16Scope::Bf16Scope(const float* base, std::size_t n) : base_(covered(base, n) ? nullptr : base) {
  if (!base_) return;  // an enclosing scope's copy serves
  if (scope_pool.size() <= scope_depth) scope_pool.resize(scope_depth + 1);
  std::vector<std::uint16_t>& copy = scope_pool[scope_depth++];
  if (copy.size() < n) copy.resize(n);
  convert_flat(base, long(n), copy.data());
  add_mirror({base, n, copy.data()});
}

Bf16Scope::~Bf16Scope() {
  if (!base_) return;
  remove_mirror(base_);
  --scope_depth;
}

void gemm_bf16(bool ta, bool tb, float alpha, Strided<const float> a, Strided<const float> b, float beta,
               Strided<float> c) {
  // One scratch per operand; gemms run one at a time (run()'s lock aside,
  // the model calls them in sequence).
  static std::vector<std::uint16_t> scratch_a, scratch_b;
  const Operand x = bf16_operand(a, ta, scratch_a), y = bf16_operand(b, tb, scratch_b);
  // The key holds the layouts the primitive sees: plain for converted
  // operands, the copy's own strides for mirrored ones.
  const Key key{x.transposed, y.transposed, c.rows, c.cols, ta ? a.rows : a.cols, {x.strides[0], x.strides[1]}, {y.strides[0], y.strides[1]},
          {c.row_stride, c.col_stride}, alpha, beta, true};
  run(key, x.md, x.data, y.md, y.data, c);
}

}  // namespace sk::onednn
