#!/bin/sh
# A GPU build started where no GPU is visible must exit 1 with one line on
# stderr that says so, before Kokkos starts (not a crash, not an abort).
# CUDA_VISIBLE_DEVICES=-1 / HIP_VISIBLE_DEVICES=-1 hide every GPU. Where no GPU
# driver is installed at all (libcuda.so.1 missing), STUB_DIR supplies the
# CUDA toolkit's stub driver so that the program can load.
# Usage: check_no_gpu.sh STUB_DIR -- PROGRAM [ARGS...]
stub_dir=$1
shift 2
if ldd "$1" 2>/dev/null | grep -q 'libcuda.so.1 => not found'; then
  LD_LIBRARY_PATH="$stub_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
  echo "(no CUDA driver installed: using the stub in $stub_dir)"
fi
err=$(CUDA_VISIBLE_DEVICES=-1 HIP_VISIBLE_DEVICES=-1 "$@" 2>&1 >/dev/null)
status=$?
echo "status $status, stderr:"
printf '%s\n' "$err"
[ "$status" -eq 1 ] || { echo "FAIL: expected exit status 1"; exit 1; }
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "FAIL: expected one line on stderr"; exit 1; }
printf '%s\n' "$err" | grep -q 'error: this build runs on [A-Z]*, but no [A-Z]* device is visible' ||
  { echo "FAIL: the message does not say that no GPU is visible"; exit 1; }
echo ok
