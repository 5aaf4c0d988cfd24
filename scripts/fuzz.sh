#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang, ASan and UBSan into
# build-fuzz/, then runs each for SECONDS (default 60), two at a time, from its
# seed corpus in tests/fuzz/corpus/ (new inputs go to build-fuzz/corpus/; the
# seeds stay as they are), after replaying the inputs of earlier findings in
# tests/fuzz/regressions/. Prints each harness's executions and exits non-zero
# on any finding; libFuzzer leaves the input in build-fuzz/findings/HARNESS/.
# SECONDS 0: only replay the seeds and the earlier findings, no new inputs.
# Usage: scripts/fuzz.sh [SECONDS [HARNESS...]]   (run from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(tokens deck weights checkpoint tokenizer cli safetensors)

mkdir -p build-fuzz
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSK_FUZZ=ON \
  -DSK_SANITIZE=address,undefined > build-fuzz/configure.log || { cat build-fuzz/configure.log; exit 1; }
cmake --build build-fuzz --target fuzzers -j"$(nproc)"

# Leaks inside Open MPI and HDF5 are not ours (tests/sanitizers/lsan.supp). A
# damaged HDF5 file can make the library ask malloc for absurd sizes; it
# handles the NULL that malloc returns without ASan, so ASan must return it too.
# Full unwinding on malloc: the suppressions name frames deep inside HDF5,
# which has no frame pointers.
export ASAN_OPTIONS=allocator_may_return_null=1:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1
run_one() {
  local name=$1 seconds=$2
  mkdir -p "build-fuzz/corpus/$name" "build-fuzz/findings/$name" build-fuzz/logs
  local log=build-fuzz/logs/$name.log
  # First the inputs of earlier findings (tests/fuzz/regressions/NAME_*), once each.
  local regressions=(tests/fuzz/regressions/"$name"_*)
  if [ -e "${regressions[0]}" ] && ! build-fuzz/tests/fuzz/fuzz_"$name" "${regressions[@]}" > "$log" 2>&1; then
    echo "$name: an earlier finding is back:"
    tail -n 30 "$log"
    return 1
  fi
  local limit=(-max_total_time="$seconds")
  [ "$seconds" -gt 0 ] || limit=(-runs=0)
  if build-fuzz/tests/fuzz/fuzz_"$name" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$name/" \
      "build-fuzz/corpus/$name" "tests/fuzz/corpus/$name" > "$log" 2>&1; then
    printf '%-11s %12s executions in %ss, corpus %s inputs, no findings\n' "$name" \
      "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" "$seconds" \
      "$(ls "build-fuzz/corpus/$name" | wc -l)"
  else
    echo "$name: FINDING (input in build-fuzz/findings/$name/):"
    grep -E -A12 'ERROR|runtime error|deadly signal|uncaught|terminate' "$log" | head -40
    return 1
  fi
}
export -f run_one
printf '%s\n' "${harnesses[@]}" | xargs -P 2 -I{} bash -c "run_one {} $seconds"
