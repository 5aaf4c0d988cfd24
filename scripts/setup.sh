#!/usr/bin/env bash
# Installs the Debian packages sophia-kokkos needs and builds it in Release.
# Usage: scripts/setup.sh [--deps-only]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config
  libtrilinos-kokkos-dev libtrilinos-kokkos-kernels-dev libopenblas-dev
  libdnnl-dev                          # oneDNN: the default gemm library on host backends (train.gemm)
  ocl-icd-opencl-dev                   # Debian's oneDNN CMake package asks for OpenCL (its GPU runtime)
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev
  catch2 libtomlplusplus-dev
  python3-torch python3-h5py python3-numpy python3-matplotlib
  libpcre2-dev nlohmann-json3-dev
  slurm-wlm munge                      # for the tests of jobs/ (a one-node Slurm they start themselves)
  clang libclang-rt-14-dev             # libFuzzer, for the fuzzing harnesses (scripts/fuzz.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${missing[@]}"
fi
scripts/fetch_data.sh
[ "${1:-}" = "--deps-only" ] && exit 0

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
# The Brown corpus as token shards, for the quick start and the training tests.
[ -f data/brown_shards/train_000000.bin ] ||
  build/sophia-kokkos prepare --input 'data/brown/*.txt' --out data/brown_shards
