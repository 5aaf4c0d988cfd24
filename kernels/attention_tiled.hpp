// Causal attention as tiled team kernels, in the manner of FlashAttention-2:
// a team of threads takes one (batch, head) and a tile of rows; key (or
// query) tiles stream through team scratch memory; the forward keeps a
// running max and sum per row (online softmax) and saves only each row's
// logsumexp; the backward recomputes the probabilities from it. Nothing of
// size T x T is ever stored. The GPU path of kernels/attention.hpp; it runs
// on every backend (the tests drive it on the host too).
//
// Every output element is written by one thread and summed in a fixed order:
// no atomics, the same bits on every run.
#pragma once
#include <type_traits>

#include "attention_shape.hpp"

namespace sk {

namespace attention_detail {

// Host backends (Serial, OpenMP) run a team as one thread: there the tile
// products below are register-blocked loops the compiler vectorises. On a GPU
// a team's threads take rows and its vector lanes take columns.
constexpr bool kHost = std::is_same<MemSpace, Kokkos::HostSpace>::value;

// Tile sizes: query rows per team in the forward (kQ) and in the backward
// (kQB), keys per tile (kK). On a GPU they keep team scratch within the 48 KB
// default of shared memory for float and HS <= 128 (larger needs fall back
// to level-1 scratch); on a CPU a tile's working set stays in L1/L2.
constexpr int kQ = 64;  // on both: 64 rows x HS <= 128 floats fit in the GPU default
constexpr int kQB = kHost ? 64 : 32;
constexpr int kK = kHost ? 64 : 32;
constexpr int kVector = kHost ? 1 : 8;  // vector lanes per thread on a GPU
constexpr std::size_t kSharedBytes = 48 * 1024;

// Register block of the host tile products: kRows rows x kCols contiguous
// columns of accumulators (8 vector registers at the widest ISA compiled for).
#if defined(__AVX512F__)
constexpr int kCols = 32;
#elif defined(__AVX__)
constexpr int kCols = 16;
#else
constexpr int kCols = 8;
#endif
constexpr int kRows = 4;

using Scratch = ExecSpace::scratch_memory_space;
template <class T>
using ScratchView = Kokkos::View<T*, Scratch, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// R x W block of c = a . b (+ c if accumulate), W columns starting at b and c:
//   c[r*ldc + j] (+)= sum_{k<K} a[r*sar + k*sak] * b[k*ldb + j]
// The accumulators stay in registers; j is the contiguous (vectorised)
// index; a's entries are broadcast. w <= W columns are used (tails).
template <int R, int W, class T>
KOKKOS_FORCEINLINE_FUNCTION void block_product(T* c, int ldc, const T* a, int sar, int sak, const T* b, int ldb,
                                               int K, bool accumulate, int w) {
  T acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < W; ++j) acc[r][j] = accumulate && j < w ? c[r * ldc + j] : T(0);
  for (int k = 0; k < K; ++k) {
    const T* KOKKOS_RESTRICT bk = b + std::size_t(k) * ldb;
    T bv[W];
    for (int j = 0; j < W; ++j) bv[j] = j < w ? bk[j] : T(0);
    for (int r = 0; r < R; ++r) {
      const T ar = a[r * sar + k * sak];
      for (int j = 0; j < W; ++j) acc[r][j] += ar * bv[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < w; ++j) c[r * ldc + j] = acc[r][j];
}

// The same with all W columns in use: no masks, so the loops are plain
// fixed-size vector code.
template <int R, int W, class T>
KOKKOS_FORCEINLINE_FUNCTION void block_product_full(T* KOKKOS_RESTRICT c, int ldc, const T* KOKKOS_RESTRICT a, int sar,
                                                    int sak, const T* KOKKOS_RESTRICT b, int ldb, int K,
                                                    bool accumulate) {
  T acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < W; ++j) acc[r][j] = accumulate ? c[r * ldc + j] : T(0);
  for (int k = 0; k < K; ++k) {
    const T* KOKKOS_RESTRICT bk = b + std::size_t(k) * ldb;
    for (int r = 0; r < R; ++r) {
      const T ar = a[r * sar + k * sak];
      for (int j = 0; j < W; ++j) acc[r][j] += ar * bk[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < W; ++j) c[r * ldc + j] = acc[r][j];
}

// R rows of c [R, N] (+)= a [R, K] . b [K, N] in register blocks of kCols columns.
template <int R, class T>
KOKKOS_FORCEINLINE_FUNCTION void row_block(T* c, int ldc, const T* a, int sar, int sak, const T* b, int ldb, int N,
                                           int K, bool accumulate) {
  int n0 = 0;
  for (; n0 + kCols <= N; n0 += kCols)
    block_product_full<R, kCols>(c + n0, ldc, a, sar, sak, b + n0, ldb, K, accumulate);
  if (n0 < N) block_product<R, kCols>(c + n0, ldc, a, sar, sak, b + n0, ldb, K, accumulate, N - n0);
}

// Tile product of a team: c [M, N] (+)= a [M, K] . b [K, N], where
// a(m, k) = a[m*sar + k*sak] (so a transposed operand is just other strides),
// b(k, n) = b[k*ldb + n], c(m, n) = c[m*ldc + n]. Each entry sums over k in
// ascending order on every backend.
template <class T>
KOKKOS_INLINE_FUNCTION void tile_product(const Member& team, int M, int N, int K, T* c, int ldc, const T* a, int sar,
                                         int sak, const T* b, int ldb, bool accumulate) {
  if constexpr (kHost) {
    // Row blocks of kRows, then single rows; column blocks of kCols, then the tail.
    const int row_blocks = (M + kRows - 1) / kRows;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, row_blocks), [&](const int rb) {
      const int m0 = rb * kRows;
      if (m0 + kRows <= M) {
        row_block<kRows>(c + std::size_t(m0) * ldc, ldc, a + std::size_t(m0) * sar, sar, sak, b, ldb, N, K, accumulate);
      } else {
        for (int m = m0; m < M; ++m)
          row_block<1>(c + std::size_t(m) * ldc, ldc, a + std::size_t(m) * sar, sar, sak, b, ldb, N, K, accumulate);
      }
    });
  } else {
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, M), [&](const int m) {
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, N), [&](const int n) {
        T acc = accumulate ? c[std::size_t(m) * ldc + n] : T(0);
        for (int k = 0; k < K; ++k) acc += a[std::size_t(m) * sar + std::size_t(k) * sak] * b[std::size_t(k) * ldb + n];
        c[std::size_t(m) * ldc + n] = acc;
      });
    });
  }
}

// dst [HS, kK] (scratch) = rows [n, HS] transposed (row r at src + r*ld),
// zero in columns n..kK-1, so score tiles can always be kK wide.
template <class T>
KOKKOS_INLINE_FUNCTION void load_transposed(const Member& team, T* dst, const T* src, int ld, int n, int HS) {
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, HS), [&](const int i) {
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, kK), [&](const int c) {
      dst[i * kK + c] = c < n ? src[std::size_t(c) * ld + i] : T(0);
    });
  });
}

// Row r of a [rows, HS] block (row stride ld) scaled by f(r) in place.
template <class T, class F>
KOKKOS_INLINE_FUNCTION void scale_rows(const Member& team, T* x, int ld, int rows, int HS, const F& f) {
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows), [&](const int r) {
    const T s = f(r);
    T* KOKKOS_RESTRICT row = x + std::size_t(r) * ld;
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, HS), [&](const int i) { row[i] *= s; });
  });
}

// Backward score tiles: for queries q0 .. q0+nq-1 (rows of q, stride ldq, and
// of dout g, stride ldg) against keys k0 .. k0+nk-1 (transposed in kt, vt
// [HS, kK]), sp [nq, kK] = p and sd [nq, kK] = ds, zero where masked or past
// nk. lse_r, delta_r: the queries' lse and delta.
template <class T>
KOKKOS_INLINE_FUNCTION void backward_scores(const Member& team, T* sp, T* sd, const T* kt, const T* vt, const T* q,
                                            int ldq, const T* g, int ldg, const T* lse_r, const T* delta_r, int q0,
                                            int nq, int k0, int nk, int HS, T scale) {
  tile_product(team, nq, kK, HS, sp, kK, q, ldq, 1, kt, kK, false);
  tile_product(team, nq, kK, HS, sd, kK, g, ldg, 1, vt, kK, false);
  team.team_barrier();
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nq), [&](const int r) {
    T* KOKKOS_RESTRICT p = sp + r * kK;
    T* KOKKOS_RESTRICT d = sd + r * kK;
    const int lim = q0 + r - k0 + 1 < nk ? q0 + r - k0 + 1 : nk;  // causal: keys k0 .. q0+r
    const T l = lse_r[r], dl = delta_r[r];
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, kK), [&](const int c) {
      const T e = c < lim ? kmath::exp(p[c] * scale - l) : T(0);
      p[c] = e;
      d[c] = e * (d[c] - dl) * scale;
    });
  });
  team.team_barrier();
}

// Team scratch of both backward kernels, carved from one block: kt, vt
// [HS, kK] (n_kt each), the p and dp/ds tiles sp, sd [kQB, kK] (n_s each),
// and the lse and delta of kQB rows.
template <class T>
struct BackwardScratch {
  T *kt, *vt, *sp, *sd, *lse_r, *delta_r;
  static constexpr std::size_t size(std::size_t n_kt, std::size_t n_s) { return 2 * n_kt + 2 * n_s + 2 * kQB; }
  KOKKOS_INLINE_FUNCTION BackwardScratch(T* mem, std::size_t n_kt, std::size_t n_s)
      : kt(mem), vt(kt + n_kt), sp(vt + n_kt), sd(sp + n_s), lse_r(sd + n_s), delta_r(lse_r + kQB) {}
};

// Scratch of a kernel on `space`: `elements` values of T, at level 0 when
// they fit a GPU's default shared memory, else level 1.
template <class T>
TeamPolicy scratch_policy(const ExecSpace& space, int league, int team_size, std::size_t elements, int& level) {
  const std::size_t bytes = ScratchView<T>::shmem_size(elements);
  level = kHost || bytes <= kSharedBytes ? 0 : 1;
  return TeamPolicy(space, league, team_size, kVector).set_scratch_size(level, Kokkos::PerTeam(bytes));
}

}  // namespace attention_detail

// attention_forward (kernels/attention.hpp) as team kernels.
// A team per (b, h, tile of kQ queries); key tiles of kK pass through scratch
// transposed ([HS, kK]) so that scores are products with contiguous rows.
template <class T>
void attention_forward_tiled(Tensor2<T> out, Tensor1<T> lse, ConstTensor2<T> qkv, AttentionShape s,
                             const ExecSpace& space = ExecSpace()) {
  using namespace attention_detail;
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS;
  const int tiles = (Tn + kQ - 1) / kQ;
  const T scale = T(1) / kmath::sqrt(T(HS));
  // Scratch: kt [HS, kK], scores/probabilities [kQ, kK], running max and sum [kQ].
  const std::size_t n_kt = std::size_t(HS) * kK, n_s = std::size_t(kQ) * kK;
  int level = 0;
  const auto policy = scratch_policy<T>(space, s.B * NH * tiles, kHost ? 1 : kQ, n_kt + n_s + 2 * kQ, level);
  Kokkos::parallel_for("attention_forward", policy, KOKKOS_LAMBDA(const Member& team) {
    const int tile = team.league_rank() % tiles, bh = team.league_rank() / tiles;
    const int h = bh % NH, b = bh / NH;
    const int q0 = tile * kQ, nq = Tn - q0 < kQ ? Tn - q0 : kQ;
    ScratchView<T> mem(team.team_scratch(level), n_kt + n_s + 2 * kQ);
    T* kt = mem.data();
    T* sc = kt + n_kt;
    T* mx = sc + n_s;
    T* sum = mx + kQ;
    const T* q = &qkv(b * Tn + q0, h * HS);
    const T* k = &qkv(b * Tn, C + h * HS);
    const T* v = &qkv(b * Tn, 2 * C + h * HS);
    const int ld = 3 * C;
    T* o = &out(b * Tn + q0, h * HS);

    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nq), [&](const int r) {
      Kokkos::single(Kokkos::PerThread(team), [&]() {
        mx[r] = Kokkos::reduction_identity<T>::max();  // the lowest value
        sum[r] = 0;
      });
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, HS), [&](const int i) { o[std::size_t(r) * C + i] = 0; });
    });
    const int kend = q0 + nq;  // keys 0 .. kend-1 are seen by some row of the tile
    for (int k0 = 0; k0 < kend; k0 += kK) {
      const int nk = kend - k0 < kK ? kend - k0 : kK;
      team.team_barrier();  // the previous tile's products are done with kt and sc
      load_transposed(team, kt, k + std::size_t(k0) * ld, ld, nk, HS);
      team.team_barrier();
      tile_product(team, nq, kK, HS, sc, kK, q, ld, 1, kt, kK, false);
      team.team_barrier();
      // Online softmax: fold this tile's scores into the row's running max and
      // sum, rescale the row's partial output, leave probabilities in sc.
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nq), [&](const int r) {
        T* KOKKOS_RESTRICT p = sc + r * kK;
        const int lim = q0 + r - k0 + 1 < nk ? q0 + r - k0 + 1 : nk;  // causal: keys k0 .. q0+r
        // Every vector lane reads the old max before one lane overwrites it below.
        const T m_old = mx[r];
        T m_tile = 0;
        Kokkos::parallel_reduce(Kokkos::ThreadVectorRange(team, lim), [&](const int c, T& m) {
          const T x = p[c] * scale;
          if (x > m) m = x;
        }, Kokkos::Max<T>(m_tile));
        const T m_new = m_tile > m_old ? m_tile : m_old;  // the running max (also when lim <= 0)
        T tile_sum = 0;
        Kokkos::parallel_reduce(Kokkos::ThreadVectorRange(team, kK), [&](const int c, T& acc) {
          const T e = c < lim ? kmath::exp(p[c] * scale - m_new) : T(0);
          p[c] = e;
          acc += e;
        }, tile_sum);
        if (lim > 0) {
          const T alpha = kmath::exp(m_old - m_new);
          T* KOKKOS_RESTRICT orow = o + std::size_t(r) * C;
          Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, HS), [&](const int i) { orow[i] *= alpha; });
          Kokkos::single(Kokkos::PerThread(team), [&]() {
            sum[r] = sum[r] * alpha + tile_sum;
            mx[r] = m_new;
          });
        }
      });
      team.team_barrier();
      tile_product(team, nq, HS, nk, o, C, sc, kK, 1, v + std::size_t(k0) * ld, ld, true);
    }
    team.team_barrier();
    scale_rows(team, o, C, nq, HS, [&](const int r) { return T(1) / sum[r]; });
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nq), [&](const int r) {
      Kokkos::single(Kokkos::PerThread(team), [&]() { lse(std::size_t(bh) * Tn + q0 + r) = mx[r] + kmath::log(sum[r]); });
    });
  });
}

namespace attention_detail {

// dq of attention_backward: a team per tile of kQB queries, streaming key
// tiles; also writes delta (dout . out per row) for the dk/dv kernel.
template <class T>
void attention_backward_dq(Tensor2<T> dqkv, Tensor1<T> delta, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                           ConstTensor2<T> out, ConstTensor1<T> lse, AttentionShape s, const ExecSpace& space) {
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS, ld = 3 * C;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const std::size_t n_kt = std::size_t(HS) * kK, n_s = std::size_t(kQB) * kK;
  const std::size_t n_mem = BackwardScratch<T>::size(n_kt, n_s);
  const int qtiles = (Tn + kQB - 1) / kQB;
  int level = 0;
  const auto dq_policy = scratch_policy<T>(space, s.B * NH * qtiles, kHost ? 1 : kQB, n_mem, level);
  Kokkos::parallel_for("attention_backward_dq", dq_policy, KOKKOS_LAMBDA(const Member& team) {
    const int tile = team.league_rank() % qtiles, bh = team.league_rank() / qtiles;
    const int h = bh % NH, b = bh / NH;
    const int q0 = tile * kQB, nq = Tn - q0 < kQB ? Tn - q0 : kQB;
    const BackwardScratch<T> m(ScratchView<T>(team.team_scratch(level), n_mem).data(), n_kt, n_s);
    T *kt = m.kt, *vt = m.vt, *sp = m.sp, *sd = m.sd, *lse_r = m.lse_r, *delta_r = m.delta_r;
    const T* q = &qkv(b * Tn + q0, h * HS);
    const T* k = &qkv(b * Tn, C + h * HS);
    const T* v = &qkv(b * Tn, 2 * C + h * HS);
    const T* g = &dout(b * Tn + q0, h * HS);
    const T* o = &out(b * Tn + q0, h * HS);
    T* dq = &dqkv(b * Tn + q0, h * HS);

    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nq), [&](const int r) {
      T dot = 0;
      Kokkos::parallel_reduce(Kokkos::ThreadVectorRange(team, HS), [&](const int i, T& acc) {
        acc += g[std::size_t(r) * C + i] * o[std::size_t(r) * C + i];
      }, dot);
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, HS), [&](const int i) { dq[std::size_t(r) * ld + i] = 0; });
      Kokkos::single(Kokkos::PerThread(team), [&]() {
        const std::size_t row = std::size_t(bh) * Tn + q0 + r;
        delta(row) = dot;
        delta_r[r] = dot;
        lse_r[r] = lse(row);
      });
    });
    const int kend = q0 + nq;
    for (int k0 = 0; k0 < kend; k0 += kK) {
      const int nk = kend - k0 < kK ? kend - k0 : kK;
      team.team_barrier();
      load_transposed(team, kt, k + std::size_t(k0) * ld, ld, nk, HS);
      load_transposed(team, vt, v + std::size_t(k0) * ld, ld, nk, HS);
      team.team_barrier();
      backward_scores(team, sp, sd, kt, vt, q, ld, g, C, lse_r, delta_r, q0, nq, k0, nk, HS, scale);
      tile_product(team, nq, HS, nk, dq, ld, sd, kK, 1, k + std::size_t(k0) * ld, ld, true);
    }
  });
}

// dk and dv of attention_backward: a team per tile of kK keys, streaming the
// query tiles that see them.
template <class T>
void attention_backward_dkdv(Tensor2<T> dqkv, ConstTensor1<T> delta_c, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                             ConstTensor1<T> lse, AttentionShape s, const ExecSpace& space) {
  const int Tn = s.T, NH = s.NH, HS = s.HS, C = NH * HS, ld = 3 * C;
  const T scale = T(1) / kmath::sqrt(T(HS));
  const std::size_t n_kt = std::size_t(HS) * kK, n_s = std::size_t(kQB) * kK;
  const std::size_t n_mem = BackwardScratch<T>::size(n_kt, n_s);
  const int ktiles = (Tn + kK - 1) / kK;
  int level = 0;
  const auto dkdv_policy = scratch_policy<T>(space, s.B * NH * ktiles, kHost ? 1 : kK, n_mem, level);
  Kokkos::parallel_for("attention_backward_dkdv", dkdv_policy, KOKKOS_LAMBDA(const Member& team) {
    const int tile = team.league_rank() % ktiles, bh = team.league_rank() / ktiles;
    const int h = bh % NH, b = bh / NH;
    const int k0 = tile * kK, nk = Tn - k0 < kK ? Tn - k0 : kK;
    const BackwardScratch<T> m(ScratchView<T>(team.team_scratch(level), n_mem).data(), n_kt, n_s);
    T *kt = m.kt, *vt = m.vt, *sp = m.sp, *sd = m.sd, *lse_r = m.lse_r, *delta_r = m.delta_r;
    const T* q = &qkv(b * Tn, h * HS);
    const T* g = &dout(b * Tn, h * HS);
    T* dk = &dqkv(b * Tn + k0, C + h * HS);
    T* dv = &dqkv(b * Tn + k0, 2 * C + h * HS);

    load_transposed(team, kt, &qkv(b * Tn + k0, C + h * HS), ld, nk, HS);
    load_transposed(team, vt, &qkv(b * Tn + k0, 2 * C + h * HS), ld, nk, HS);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nk), [&](const int c) {
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, HS), [&](const int i) {
        dk[std::size_t(c) * ld + i] = 0;
        dv[std::size_t(c) * ld + i] = 0;
      });
    });
    // Queries before k0 do not see these keys.
    for (int q0 = k0; q0 < Tn; q0 += kQB) {
      const int nq = Tn - q0 < kQB ? Tn - q0 : kQB;
      team.team_barrier();
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nq), [&](const int r) {
        Kokkos::single(Kokkos::PerThread(team), [&]() {
          const std::size_t row = std::size_t(bh) * Tn + q0 + r;
          lse_r[r] = lse(row);
          delta_r[r] = delta_c(row);
        });
      });
      team.team_barrier();
      const T* qq = q + std::size_t(q0) * ld;
      const T* gg = g + std::size_t(q0) * C;
      backward_scores(team, sp, sd, kt, vt, qq, ld, gg, C, lse_r, delta_r, q0, nq, k0, nk, HS, scale);
      // dv [nk, HS] += p^T . dout, dk += ds^T . q: p read transposed.
      tile_product(team, nk, HS, nq, dv, ld, sp, 1, kK, gg, C, true);
      tile_product(team, nk, HS, nq, dk, ld, sd, 1, kK, qq, ld, true);
    }
  });
}

}  // namespace attention_detail

// attention_backward (kernels/attention.hpp) as team kernels; delta
// [B*NH*T] is scratch: delta[(b*NH+h)*T + t] = dout_t . out_t.
// Two kernels so that each team owns the rows it writes; both recompute p and ds.
template <class T>
void attention_backward_tiled(Tensor2<T> dqkv, Tensor1<T> delta, ConstTensor2<T> dout, ConstTensor2<T> qkv,
                              ConstTensor2<T> out, ConstTensor1<T> lse, AttentionShape s,
                              const ExecSpace& space = ExecSpace()) {
  attention_detail::attention_backward_dq(dqkv, delta, dout, qkv, out, lse, s, space);
  attention_detail::attention_backward_dkdv<T>(dqkv, delta, dout, qkv, lse, s, space);
}

}  // namespace sk
