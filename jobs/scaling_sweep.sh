#!/usr/bin/env bash
# Strong- and weak-scaling sweep of full training steps: one short run of
# `sophia-kokkos train` per (mode, rank count), their step timers gathered into
# one CSV (scripts/scaling_table.py) and drawn against the ideal
# (scripts/plot_scaling.py). Strong: the same global batch on every rank count.
# Weak: the same batch per rank. Runs inside a Slurm allocation (jobs/scaling.sbatch,
# launching with srun) or on a workstation (launching with mpiexec).
#
# Usage: jobs/scaling_sweep.sh DECK.toml OUT_DIR
# Environment (all optional):
#   SK_RANKS         rank counts (default: 1 2 4 ... up to SLURM_NTASKS, else "1 2")
#   SK_MODES         strong and/or weak (default: "strong weak")
#   SK_STEPS         steps per point (default 20); SK_WARMUP: first steps not timed (default 3)
#   SK_STRONG_BATCH  global batch of the strong sweep (default: the largest rank count)
#   SK_WEAK_BATCH    batch per rank of the weak sweep (default 1)
#   SK_SET           deck overrides, whitespace-separated KEY=VALUE
#   SK_EXE, SK_LAUNCH  the program and the launcher (default srun in Slurm, else mpiexec)
#   SK_PYTHON        a Python 3 with matplotlib (default python3)
# Output: OUT_DIR/<mode>-<ranks>/ (each run's metrics and log), OUT_DIR/scaling.csv,
# OUT_DIR/speedup.png, OUT_DIR/efficiency.png.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fail() { echo "scaling_sweep.sh: error: $*" >&2; exit 2; }
[ $# -eq 2 ] || fail "usage: jobs/scaling_sweep.sh DECK.toml OUT_DIR"
deck=$1 out=$2
[ -f "$deck" ] && [ -r "$deck" ] || fail "deck $deck does not exist or is not readable"
mkdir -p "$out" 2>/dev/null && [ -w "$out" ] || fail "the output folder $out is not writable"
exe=${SK_EXE:-$here/build/sophia-kokkos}
[ -x "$exe" ] || fail "sophia-kokkos not found at $exe: set SK_EXE or build it (scripts/setup.sh)"
if [ -n "${SLURM_JOB_ID:-}" ]; then launch=${SK_LAUNCH:-srun --kill-on-bad-exit=1}; else launch=${SK_LAUNCH:-mpiexec}; fi

if [ -z "${SK_RANKS:-}" ]; then
  SK_RANKS="1"
  for ((n = 2; n <= ${SLURM_NTASKS:-2}; n *= 2)); do SK_RANKS+=" $n"; done
fi
max=1
for n in $SK_RANKS; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || fail "SK_RANKS holds '$n', not a positive rank count"
  [ "$n" -gt "$max" ] && max=$n
done
steps=${SK_STEPS:-20} warmup=${SK_WARMUP:-3}
[[ "$steps$warmup" =~ ^[0-9]+$ ]] && [ "$steps" -gt "$warmup" ] || fail "SK_STEPS=$steps must exceed SK_WARMUP=$warmup"
strong_batch=${SK_STRONG_BATCH:-$max} weak_batch=${SK_WEAK_BATCH:-1}
[[ "$strong_batch$weak_batch" =~ ^[0-9]+$ ]] && [ "$strong_batch" -gt 0 ] && [ "$weak_batch" -gt 0 ] ||
  fail "SK_STRONG_BATCH=$strong_batch and SK_WEAK_BATCH=$weak_batch must be positive integers"
sets=()
for kv in ${SK_SET:-}; do sets+=(--set "$kv"); done

global_batch() {  # mode, ranks
  case $1 in
    strong) echo "$strong_batch" ;;
    weak) echo $((weak_batch * $2)) ;;
  esac
}
# Every point is checked before the first one runs.
for mode in ${SK_MODES:-strong weak}; do
  [ "$mode" = strong ] || [ "$mode" = weak ] || fail "SK_MODES holds '$mode', not strong or weak"
  for n in $SK_RANKS; do
    [ $(($(global_batch "$mode" "$n") % n)) -eq 0 ] || fail "SK_STRONG_BATCH=$strong_batch is not divisible by $n ranks"
  done
done

for mode in ${SK_MODES:-strong weak}; do
  for n in $SK_RANKS; do
    batch=$(global_batch "$mode" "$n")
    dir=$out/$mode-$n
    mkdir -p "$dir"
    nodes=$($launch -n "$n" hostname | sort -u | wc -l)
    echo "{\"mode\": \"$mode\", \"ranks\": $n, \"nodes\": $nodes, \"batch_size\": $batch}" >"$dir/point.json"
    echo "scaling_sweep.sh: $mode, $n rank(s) on $nodes node(s), global batch $batch"
    # No validation, no checkpoints: only training steps are timed.
    $launch -n "$n" "$exe" train --config "$deck" "${sets[@]}" --set "train.steps=$steps" --set "train.batch_size=$batch" \
      --set data.val_data= --set train.eval_interval=0 --set checkpoint.interval=0 --set checkpoint.minutes=0 \
      --set "output.dir=$dir" >"$dir/train.log" 2>&1 ||
      fail "the $mode point on $n rank(s) failed; see $dir/train.log: $(tail -n 3 "$dir/train.log")"
  done
done
"${SK_PYTHON:-python3}" "$here/scripts/scaling_table.py" --warmup "$warmup" "$out" >"$out/scaling.csv"
"${SK_PYTHON:-python3}" "$here/scripts/plot_scaling.py" "$out/scaling.csv" "$out"
column -s, -t <"$out/scaling.csv" 2>/dev/null || cat "$out/scaling.csv"
echo "scaling_sweep.sh: wrote $out/scaling.csv, $out/speedup.png and $out/efficiency.png"
