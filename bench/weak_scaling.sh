#!/usr/bin/env bash
# Weak scaling on one node: the same per-rank batch on 1 rank and on N ranks
# (one core each: OPENBLAS_NUM_THREADS=1), full Sophia-G training steps, with
# the gradient reduction overlapped with the backward pass, blocking, and
# ZeRO-1. Prints step times, parallel efficiency (T1 / TN) and the share of
# the step spent waiting for communication.
# Usage: bench/weak_scaling.sh [RANKS] [bench options...]   (default: 2 ranks, gpt2, B=4, T=64)
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}
shift || true
exe=${SOPHIA_KOKKOS:-build/sophia-kokkos}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
step_ms() { sed -n 's/^training step ([a-z]*): median \([0-9.]*\) ms.*/\1/p' <<<"$1"; }
one=$("$exe" bench --optimizer sophiag "$@")
t1=$(step_ms "$one")
echo "$one" | head -2
echo "1 rank: step ${t1} ms, peak memory $(sed -n 's/^peak resident memory: \([0-9.]*\) GB/\1/p' <<<"$one") GB"
for mode in overlap blocking zero1; do
  out=$(mpiexec -n "$ranks" "$exe" bench --optimizer sophiag --reduction "$mode" "$@")
  tn=$(step_ms "$out")
  comm=$(sed -n 's/^communication .*: median wait \([0-9.]*\) ms, \([0-9.]*\)% of the step; \([0-9.]*\) MB.*/wait \1 ms (\2% of the step), \3 MB sent per rank/p' <<<"$out")
  mem=$(sed -n 's/^peak resident memory: \([0-9.]*\) GB/\1/p' <<<"$out")
  awk -v r="$ranks" -v m="$mode" -v t1="$t1" -v tn="$tn" -v c="$comm" -v mem="$mem" \
    'BEGIN { printf "%d ranks, %s: step %.1f ms, efficiency %.3f, %s, peak memory of rank 0 %s GB\n", r, m, tn, t1 / tn, c, mem }'
done
