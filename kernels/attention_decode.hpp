// Causal attention for generation with a key/value cache: one new query row
// per sequence attends to the keys and values of every earlier position,
// which were computed once, when their own token went through, and kept.
// The same function as kernels/attention.hpp's forward for the last row;
// nothing for a backward is kept.
#pragma once
#include "attention_tiled.hpp"

namespace sk {

// One layer's cache: keys or values, [S, NH, T_max, HS] (sequence, head,
// position, channel), so that the rows a head reads are contiguous.
template <class T>
using CacheTensor = Kokkos::View<T****, Kokkos::LayoutRight, MemSpace, Unmanaged>;

// Stores the k and v of position `pos`:
//   keys(s, h, pos, i) = qkv[s, C + h*HS + i], values(s, h, pos, i) = qkv[s, 2C + h*HS + i]
// qkv [S, 3C] from c_attn of the new tokens.
template <class T>
void kv_cache_store(CacheTensor<T> keys, CacheTensor<T> values, ConstTensor2<T> qkv, int pos,
                    const ExecSpace& space = ExecSpace()) {
  const int NH = keys.extent(1), HS = keys.extent(3), C = NH * HS;
  Kokkos::parallel_for("kv_cache_store", Range2D(space, {0, 0}, {int(qkv.extent(0)), C}),
                       KOKKOS_LAMBDA(const int s, const int c) {
                         keys(s, c / HS, pos, c % HS) = qkv(s, C + c);
                         values(s, c / HS, pos, c % HS) = qkv(s, 2 * C + c);
                       });
}

// Stores the k and v of positions 0 .. P-1 from a forward over whole prompts:
//   keys(s, h, p, i) = qkv[s*P + p, C + h*HS + i], values likewise at 2C.
// qkv [S*P, 3C] from c_attn of a full forward (the prompt's prefill).
template <class T>
void kv_cache_prefill(CacheTensor<T> keys, CacheTensor<T> values, ConstTensor2<T> qkv, int P,
                      const ExecSpace& space = ExecSpace()) {
  const int NH = keys.extent(1), HS = keys.extent(3), C = NH * HS;
  Kokkos::parallel_for("kv_cache_prefill", Range2D(space, {0, 0}, {int(qkv.extent(0)), C}),
                       KOKKOS_LAMBDA(const int row, const int c) {
                         const int s = row / P, p = row % P;
                         keys(s, c / HS, p, c % HS) = qkv(row, C + c);
                         values(s, c / HS, p, c % HS) = qkv(row, 2 * C + c);
                       });
}

// out[s, h*HS+i] = sum_{t<=pos} p(t) * values(s, h, t, i), with p the softmax
// over t <= pos of q . keys(s, h, t, :) / sqrt(HS) and q = qkv[s, h*HS .. h*HS+HS).
// out [S, C]; qkv [S, 3C]; the cache holds positions 0 .. pos.
// A team per (sequence, head) keeps the pos+1 scores in team scratch (GPU
// shared memory, or level-1 scratch past its size, as the tiled attention
// does): threads take positions for the scores, vector lanes the channels of
// a key; then threads take channels and lanes positions for the output.
template <class T>
void attention_decode(Tensor2<T> out, ConstTensor2<T> qkv, CacheTensor<T> keys, CacheTensor<T> values, int pos,
                      const ExecSpace& space = ExecSpace()) {
  using namespace attention_detail;
  const int S = keys.extent(0), NH = keys.extent(1), HS = keys.extent(3), n = pos + 1;
  const T scale = T(1) / kmath::sqrt(T(HS));
  int level = 0;
  const auto policy = scratch_policy<T>(space, S * NH, kHost ? 1 : 32, n, level);
  Kokkos::parallel_for("attention_decode", policy, KOKKOS_LAMBDA(const Member& team) {
    const int s = team.league_rank() / NH, h = team.league_rank() % NH;
    const ScratchView<T> p(team.team_scratch(level), n);
    const T* q = &qkv(s, h * HS);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, n), [&](const int t) {
      const T* k = &keys(s, h, t, 0);
      T dot = 0;
      Kokkos::parallel_reduce(Kokkos::ThreadVectorRange(team, HS), [&](const int i, T& acc) { acc += q[i] * k[i]; },
                              dot);
      Kokkos::single(Kokkos::PerThread(team), [&]() { p(t) = dot * scale; });
    });
    team.team_barrier();
    T max = p(0);
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, n), [&](const int t, T& m) { m = p(t) > m ? p(t) : m; },
                            Kokkos::Max<T>(max));
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, n), [&](const int t) {
      Kokkos::single(Kokkos::PerThread(team), [&]() { p(t) = kmath::exp(p(t) - max); });
    });
    team.team_barrier();
    T sum = 0;
    Kokkos::parallel_reduce(Kokkos::TeamThreadRange(team, n), [&](const int t, T& acc) { acc += p(t); }, sum);
    const T inv = T(1) / sum;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, HS), [&](const int i) {
      T acc = 0;
      Kokkos::parallel_reduce(Kokkos::ThreadVectorRange(team, n), [&](const int t, T& a) {
        a += p(t) * values(s, h, t, i);
      }, acc);
      Kokkos::single(Kokkos::PerThread(team), [&]() { out(s, h * HS + i) = acc * inv; });
    });
  });
}

}  // namespace sk
