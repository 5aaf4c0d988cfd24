#!/usr/bin/env bash
# The GPU check: correctness and speed of a CUDA build on one GPU, in about
# 10 minutes, on a machine that has the NVIDIA driver, the CUDA 13 runtime
# and cuBLAS, Python with PyTorch, numpy and h5py, but no MPI or HDF5
# development packages. So the binaries are built on a development machine
# and carried over with the shared libraries they need.
#
# On the build machine (after building build-cuda/ and build/, see README.md):
#   bench/gpu_check.sh --package [BUILD_DIR] [PACKAGE_DIR] [CPU_BUILD_DIR]
#                                (defaults: build-cuda gpu-package build)
# copies sophia-kokkos and unit_tests, the CPU build's sophia-kokkos (as
# sophia-kokkos-cpu, the reference of the training check), every shared
# library they load except the C library, the CUDA driver and the CUDA
# toolkit's own (cudart, cuBLAS: the GPU machine has those), and Open MPI's
# and PMIx's plugins into PACKAGE_DIR, with wrappers that set the library
# path for the binaries only. The GPU machine also needs data/brown_shards
# and data/gpt2 (carry them with the package).
#
# On the GPU machine, from the repository root, with PACKAGE_DIR next to it:
#   bench/gpu_check.sh --run [PACKAGE_DIR] [STEP...]
# runs the steps named (default: all), each under a time limit, writing
# everything to PACKAGE_DIR/gpu_check.log (and to $OUT/gpu_check.log when OUT is set):
#   unit:       the unit tests;
#   grad:       `grad` on the reference weights and tokens against PyTorch's
#               gradients (tests/app/check_grad.py), and `hvp` against a
#               float64 PyTorch double backward (tests/app/check_hvp.py);
#   train:      the quick-start deck, shortened, twice (bit-identical), killed
#               and resumed (bit-identical), and against the CPU build
#               (validation losses within 1e-3; tests/app/check_backend_training.py);
#   bench:      `bench` for gpt2 (124M) at B=8 T=1024: forward+backward (with
#               the per-kernel breakdown), then full Sophia-G and AdamW steps,
#               strict fp32 and with TF32, each against the cuBLAS gemm rate of
#               the same shapes measured in the same run; the HVP against
#               forward+backward, and a Sophia-H step with its refresh;
#   pytorch:    PyTorch on the same model and batch (bench/pytorch_gpt2_step.py):
#               eager fp32 (fused attention), TF32, bf16 autocast, bf16 + torch.compile;
#   generation: tokens/s for gpt2 with the KV cache against full forwards
#               (bench/generation.py).
set -uo pipefail
cd "$(dirname "$0")/.."

die() { echo "gpu_check.sh: error: $*" >&2; exit 1; }

# The libraries a binary or plugin needs that the GPU machine supplies itself.
system_lib() {
  case "$1" in
    linux-vdso.so*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libutil.so*|libresolv.so*) return 0 ;;
    libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libnvidia-*) return 0 ;;
  esac
  return 1
}

copy_deps() {  # copy_deps LIBDIR FILE...: the shared libraries the files load, by their soname
  local libdir=$1 name path
  shift
  ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
      system_lib "$name" || [ -e "$libdir/$name" ] || cp -L "$path" "$libdir/$name"
    done
  if ldd "$@" 2>/dev/null | grep -v 'libcuda.so' | grep -q 'not found'; then
    ldd "$@" | grep 'not found' | grep -v libcuda.so >&2
    die "some libraries above are not found on this machine"
  fi
}

package() {
  local build=${1:-build-cuda} pkg=${2:-gpu-package} cpu_build=${3:-build}
  local exe=$build/sophia-kokkos tests=$build/tests/unit_tests
  [ -x "$exe" ] && [ -x "$tests" ] || die "no CUDA build in $build (need $exe and $tests): see README.md, 'CUDA'"
  grep -q '^SK_BACKEND:STRING=cuda' "$build/CMakeCache.txt" 2>/dev/null ||
    echo "gpu_check.sh: warning: $build was not configured with -DSK_BACKEND=cuda" >&2
  rm -rf "$pkg"
  mkdir -p "$pkg/bin" "$pkg/lib" "$pkg/ompi" "$pkg/pmix"
  cp "$exe" "$tests" "$pkg/bin/"
  local programs=(sophia-kokkos unit_tests)
  if [ -x "$cpu_build/sophia-kokkos" ]; then
    cp "$cpu_build/sophia-kokkos" "$pkg/bin/sophia-kokkos-cpu"
    programs+=(sophia-kokkos-cpu)
  else
    echo "gpu_check.sh: warning: no CPU build in $cpu_build: the training check runs without a reference" >&2
  fi
  copy_deps "$pkg/lib" "${programs[@]/#/$pkg/bin/}"
  # Open MPI loads its components at run time, from a path set below.
  local ompi_dir pmix_dir
  ompi_dir=$(ompi_info --param mca base --level 9 2>/dev/null |
             sed -n 's/.*"mca_base_component_path" (current value: "\([^:"]*\).*/\1/p')
  [ -d "$ompi_dir" ] || ompi_dir=/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3
  [ -d "$ompi_dir" ] || die "cannot find Open MPI's component folder"
  cp "$ompi_dir"/*.so "$pkg/ompi/"
  copy_deps "$pkg/lib" "$pkg"/ompi/*.so
  pmix_dir=$(dirname "$(readlink -f "$pkg/lib/libpmix.so.2" 2>/dev/null || echo /nonexistent)")
  for d in /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix "$pmix_dir/pmix"; do
    if [ -d "$d" ]; then
      cp "$d"/*.so "$pkg/pmix/"
      copy_deps "$pkg/lib" "$pkg"/pmix/*.so
      break
    fi
  done
  # Wrappers: the carried libraries for these programs only (not for Python).
  for b in "${programs[@]}"; do
    cat > "$pkg/$b" <<EOF
#!/bin/sh
here=\$(cd "\$(dirname "\$0")" && pwd)
export LD_LIBRARY_PATH="\$here/lib\${SK_CUDA_LIBS:+:\$SK_CUDA_LIBS}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export OMPI_MCA_mca_base_component_path="\$here/ompi" PMIX_MCA_mca_base_component_path="\$here/pmix"
export OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
exec "\$here/bin/$b" "\$@"
EOF
    chmod +x "$pkg/$b"
  done
  # The unit tests read tests/reference and data/gpt2 at the paths compiled in.
  (cd "$(dirname "$0")/.." && pwd) > "$pkg/SOURCE_DIR"
  {
    echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n) from $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+changes')"
    grep -E '^(SK_BACKEND|SK_ARCH|Kokkos_DIR|CMAKE_BUILD_TYPE):' "$build/CMakeCache.txt" 2>/dev/null
  } > "$pkg/BUILD_INFO"
  echo "packaged into $pkg ($(du -sh "$pkg" | cut -f1)):"
  ls "$pkg" "$pkg/lib"
}

run() {
  local pkg=${1:-gpu-package}
  shift $(($# > 0 ? 1 : 0))
  [ -x "$pkg/sophia-kokkos" ] || die "no package in $pkg: make one with --package on the build machine"
  pkg=$(cd "$pkg" && pwd)
  local log=$pkg/gpu_check.log
  exec > >(tee "$log" ${OUT:+"$OUT/gpu_check.log"}) 2>&1
  local t0=$SECONDS failures=0
  step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2 s=$SECONDS
    shift 2
    echo "===== $name (limit ${limit}s) ====="
    timeout "$limit" "$@"
    local rc=$?
    [ $rc -eq 0 ] || { failures=$((failures + 1)); echo "!!!!! $name: FAILED (status $rc$([ $rc -eq 124 ] && echo ', timed out'))"; }
    echo "===== $name: $((SECONDS - s)) s ====="
  }
  cat "$pkg/BUILD_INFO"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  # cudart and cuBLAS of the machine: the CUDA toolkit's, else PyTorch's wheels'.
  local cuda_libs=""
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -e "$d/libcublas.so.13" ] && cuda_libs="$d" && break
  done
  if [ -z "$cuda_libs" ]; then
    cuda_libs=$(python3 -c '
import glob, os, site
dirs = set()
for sp in site.getsitepackages():
    for name in ("libcublas.so.13", "libcublasLt.so.13", "libcudart.so.13"):
        for f in glob.glob(os.path.join(sp, "nvidia", "**", name), recursive=True):
            dirs.add(os.path.dirname(f))
print(":".join(sorted(dirs)))' 2>/dev/null)
  fi
  export SK_CUDA_LIBS=$cuda_libs
  echo "CUDA libraries from: ${cuda_libs:-the default library path}"
  # The compiled-in paths of the unit tests' data (tests/reference).
  local src
  src=$(cat "$pkg/SOURCE_DIR")
  if [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then
    mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src" && echo "linked $src -> $PWD for the unit tests' data"
  fi
  local work
  work=$(mktemp -d)

  local steps=("$@") shape=(--model gpt2 --batch 8 --seq 1024)
  [ ${#steps[@]} -gt 0 ] || steps=(unit grad train bench pytorch generation)
  local reference=()
  [ -x "$pkg/sophia-kokkos-cpu" ] && reference=(--reference "$pkg/sophia-kokkos-cpu")
  for s in "${steps[@]}"; do
    case "$s" in
      unit) step "unit tests" 300 "$pkg/unit_tests" ;;
      grad) step "grad against PyTorch's reference" 90 python3 tests/app/check_grad.py tests/reference "$work/grad.h5" -- "$pkg/sophia-kokkos"
        step "grad in bf16 (cuBLAS) against the bf16 bound" 90 python3 tests/app/check_grad.py tests/reference \
          "$work/grad_bf16.h5" --bf16 -- "$pkg/sophia-kokkos"
        step "hvp against a float64 PyTorch double backward" 120 python3 tests/app/check_hvp.py "$work/hvp" \
          -- "$pkg/sophia-kokkos" ;;
      train) step "training: determinism, resume, CPU agreement" 300 python3 tests/app/check_backend_training.py \
               configs/quickstart.toml data/brown_shards "$work/train" "${reference[@]}" -- "$pkg/sophia-kokkos" ;;
      bench)
        step "bench forward+backward, gpt2 B=8 T=1024" 120 "$pkg/sophia-kokkos" bench "${shape[@]}" --breakdown
        step "bench Sophia-G step, gpt2 B=8 T=1024" 90 "$pkg/sophia-kokkos" bench "${shape[@]}" --optimizer sophiag
        step "bench AdamW step, gpt2 B=8 T=1024" 90 "$pkg/sophia-kokkos" bench "${shape[@]}" --optimizer adamw
        step "bench HVP, gpt2 B=8 T=1024" 120 "$pkg/sophia-kokkos" bench "${shape[@]}" --hvp --breakdown
        step "bench Sophia-H step, gpt2 B=8 T=1024" 120 "$pkg/sophia-kokkos" bench "${shape[@]}" --optimizer sophiah
        step "bench Sophia-G step, TF32, gpt2 B=8 T=1024" 90 "$pkg/sophia-kokkos" bench "${shape[@]}" --optimizer sophiag --tf32
        step "bench Sophia-G step, bf16, gpt2 B=8 T=1024" 90 "$pkg/sophia-kokkos" bench "${shape[@]}" --optimizer sophiag --precision bf16 ;;
      pytorch)
        local torch_step=(python3 bench/pytorch_gpt2_step.py --batch 8 --seq 1024 --attention sdpa)
        step "PyTorch eager fp32, fused attention (sdpa)" 75 "${torch_step[@]}"
        step "PyTorch eager TF32" 75 "${torch_step[@]}" --precision tf32
        step "PyTorch eager bf16 autocast" 75 "${torch_step[@]}" --precision bf16
        step "PyTorch bf16 autocast + torch.compile" 180 "${torch_step[@]}" --precision bf16 --compile ;;
      generation) step "generation, gpt2: KV cache against full forwards" 120 python3 bench/generation.py \
                    --exe "$pkg/sophia-kokkos" --runs 1 --tokens 256 --work "$work/generation" ;;
      *) echo "gpu_check.sh: unknown step '$s'"; failures=$((failures + 1)) ;;
    esac
  done
  rm -rf "$work"
  echo "===== gpu_check: $failures failed step(s), $((SECONDS - t0)) s in all; log: $log ====="
  [ $failures -eq 0 ]
}

case "${1:-}" in
  --package) shift; package "$@" ;;
  --run) shift; run "$@" ;;
  *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
