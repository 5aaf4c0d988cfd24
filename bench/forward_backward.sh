#!/usr/bin/env bash
# Runs `sophia-kokkos bench` several times and prints each run's figures and
# the median fraction of the gemm rate over the runs.
# Usage: bench/forward_backward.sh [RUNS] [bench options...]   (default: 3 runs,
# gpt2, B=4, T=64; e.g. bench/forward_backward.sh 5 --model gpt2 --iters 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
exe=${SOPHIA_KOKKOS:-build/sophia-kokkos}
fractions=()
for ((i = 1; i <= runs; i++)); do
  out=$("$exe" bench "$@")
  [ "$i" -eq 1 ] && echo "$out" | head -2
  step=$(echo "$out" | sed -n 's/^forward+backward: median \([0-9.]*\) ms.*/\1/p')
  achieved=$(echo "$out" | sed -n 's/^achieved: \([0-9.]*\) .*/\1/p')
  gemm=$(echo "$out" | sed -n 's/^gemm on the same shapes: \([0-9.]*\) .*/\1/p')
  fraction=$(echo "$out" | sed -n 's/^fraction of gemm rate: //p')
  echo "run $i: step ${step} ms, ${achieved} GFLOP/s, gemm ${gemm} GFLOP/s, fraction ${fraction}"
  fractions+=("$fraction")
done
printf '%s\n' "${fractions[@]}" | sort -n | awk '{v[NR] = $1} END {
  m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "median fraction of gemm rate over %d runs: %.3f\n", NR, m }'
