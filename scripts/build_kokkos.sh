#!/usr/bin/env bash
# Builds and installs Kokkos and KokkosKernels 4.x for one backend, the way
# sophia-kokkos uses them: only KokkosKernels' BLAS component, matrix products
# through a vendor BLAS (OpenBLAS on CPUs, cuBLAS on CUDA GPUs), no explicit
# template instantiations (the project's views are LayoutRight float/double,
# which KokkosKernels' default instantiations do not cover anyway).
#
# Usage:
#   scripts/build_kokkos.sh --backend serial|openmp|cuda --prefix DIR
#                           [--arch ARCH] [--jobs N] [--blas VENDOR] [--patch FILE]
#                           [--keep-build DIR] [KOKKOS.tar.gz KOKKOS_KERNELS.tar.gz]
#
#   --backend   serial, openmp or cuda (cuda also enables Serial for the host)
#   --prefix    install prefix; it then holds both packages (Kokkos_ROOT=KokkosKernels_ROOT=DIR)
#   --arch      Kokkos architecture name. cuda: HOPPER90 (default), AMPERE80, AMPERE86,
#               ADA89, BLACKWELL100, BLACKWELL120, TURING75, VOLTA70, ...;
#               CPUs: none by default, or e.g. NATIVE, ZEN3, SPR
#   --jobs      parallel build jobs (default 2)
#   --blas      BLAS vendor for CMake's FindBLAS (BLA_VENDOR; default OpenBLAS)
#   --patch     a patch applied to the Kokkos sources before building (-p1)
#   --keep-build DIR   build in DIR and keep it (default: a temporary folder, removed)
#
# Without tarballs it downloads the official 4.6.01 releases from GitHub (needs
# internet). The prefix records what was built (.sophia-kokkos-stamp: the
# tarballs' sha256 and the options); a second run with the same sources and
# options finds the finished install and returns at once.
set -euo pipefail

die() { echo "build_kokkos.sh: error: $*" >&2; exit 1; }
usage() { sed -n '/^# Usage:/,/^# Without/p' "$0" | sed 's/^# \{0,1\}//' | sed '$d'; }

backend="" prefix="" arch="" jobs=2 blas="OpenBLAS" patch="" keep_build=""
tarballs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="${2:-}"; shift 2 ;;
    --prefix) prefix="${2:-}"; shift 2 ;;
    --arch) arch="${2:-}"; shift 2 ;;
    --jobs|-j) jobs="${2:-}"; shift 2 ;;
    --blas) blas="${2:-}"; shift 2 ;;
    --patch) patch="${2:-}"; shift 2 ;;
    --keep-build) keep_build="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) tarballs+=("$1"); shift ;;
  esac
done

[ -n "$backend" ] || die "give the backend with --backend serial|openmp|cuda"
[ -n "$prefix" ] || die "give the install prefix with --prefix DIR"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive integer, got '$jobs'"

# Kokkos' CUDA architecture names and their compute capabilities (Kokkos 4.6).
declare -A cuda_sm=(
  [MAXWELL50]=50 [MAXWELL52]=52 [MAXWELL53]=53 [PASCAL60]=60 [PASCAL61]=61
  [VOLTA70]=70 [VOLTA72]=72 [TURING75]=75 [AMPERE80]=80 [AMPERE86]=86
  [ADA89]=89 [HOPPER90]=90 [BLACKWELL100]=100 [BLACKWELL120]=120
)
arch="${arch^^}"
case "$backend" in
  serial|openmp) ;;
  cuda)
    arch="${arch:-HOPPER90}"
    [ -n "${cuda_sm[$arch]:-}" ] ||
      die "unknown CUDA architecture '$arch'; known: $(printf '%s\n' "${!cuda_sm[@]}" | sort | tr '\n' ' ')"
    ;;
  *) die "unknown backend '$backend'; give serial, openmp or cuda" ;;
esac
[ -z "$patch" ] || [ -f "$patch" ] || die "patch file $patch does not exist"

# Sources: two tarballs, or the official releases.
version=4.6.01
work="${keep_build:-$(mktemp -d "${TMPDIR:-/tmp}/build-kokkos.XXXXXX")}"
[ -n "$keep_build" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
case ${#tarballs[@]} in
  2) kokkos_tgz="${tarballs[0]}" kernels_tgz="${tarballs[1]}" ;;
  0)
    command -v curl >/dev/null || die "no tarballs given and curl is not installed to download them"
    kokkos_tgz="$work/kokkos-$version.tar.gz" kernels_tgz="$work/kokkos-kernels-$version.tar.gz"
    echo "downloading Kokkos and KokkosKernels $version"
    curl -fL --retry 2 -o "$kokkos_tgz" \
      "https://github.com/kokkos/kokkos/releases/download/$version/kokkos-$version.tar.gz" ||
      die "cannot download Kokkos $version; give the two tarballs as arguments"
    curl -fL --retry 2 -o "$kernels_tgz" \
      "https://github.com/kokkos/kokkos-kernels/releases/download/$version/kokkos-kernels-$version.tar.gz" ||
      die "cannot download KokkosKernels $version; give the two tarballs as arguments"
    ;;
  *) die "give both tarballs (Kokkos, then KokkosKernels), or none to download them" ;;
esac
for t in "$kokkos_tgz" "$kernels_tgz"; do
  [ -f "$t" ] || die "tarball $t does not exist"
done

# CUDA: nvcc_wrapper calls nvcc from PATH.
if [ "$backend" = cuda ] && ! command -v nvcc >/dev/null; then
  cuda_home="${CUDA_HOME:-/usr/local/cuda}"
  [ -x "$cuda_home/bin/nvcc" ] || die "backend cuda needs nvcc: none on PATH nor in $cuda_home/bin (set CUDA_HOME)"
  export PATH="$cuda_home/bin:$PATH"
fi

# What this install is; an install with the same stamp is reused.
sha() { sha256sum "$1" | cut -d' ' -f1; }
stamp_text="kokkos $(sha "$kokkos_tgz")
kokkos-kernels $(sha "$kernels_tgz")
patch ${patch:+$(sha "$patch")}
backend $backend
arch $arch
blas $blas
options 1"
[ "$backend" != cuda ] || stamp_text+="
nvcc $(nvcc --version | tail -1)"
stamp="$prefix/.sophia-kokkos-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; then
  echo "Kokkos ($backend${arch:+, $arch}) is already installed in $prefix; nothing to do"
  exit 0
fi
if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
  [ -f "$stamp" ] || die "$prefix is not empty and was not made by this script; give another --prefix"
  echo "$prefix holds a different build (sources or options changed); rebuilding it"
  rm -rf "$prefix"
fi

echo "building Kokkos and KokkosKernels for $backend${arch:+ ($arch)} into $prefix with -j$jobs"
mkdir -p "$work/kokkos" "$work/kernels"
tar xzf "$kokkos_tgz" -C "$work/kokkos" --strip-components=1
tar xzf "$kernels_tgz" -C "$work/kernels" --strip-components=1
[ -f "$work/kokkos/bin/nvcc_wrapper" ] || die "$kokkos_tgz does not look like a Kokkos release"
[ -f "$work/kernels/cmake/Modules/FindTPLBLAS.cmake" ] || die "$kernels_tgz does not look like a KokkosKernels release"
[ -z "$patch" ] || patch -d "$work/kokkos" -p1 --forward < "$patch"

common=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_EXTENSIONS=OFF
        -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib)
kokkos=(-DKokkos_ENABLE_SERIAL=ON)
kernels=(-DKokkos_ROOT="$prefix"
         -DKokkosKernels_ENABLE_ALL_COMPONENTS=OFF -DKokkosKernels_ENABLE_COMPONENT_BLAS=ON
         -DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_FLOAT=OFF
         -DKokkosKernels_INST_LAYOUTLEFT=OFF -DKokkosKernels_INST_LAYOUTRIGHT=OFF
         -DKokkosKernels_ENABLE_TPL_BLAS=ON -DBLA_VENDOR="$blas" -DKokkosKernels_ENABLE_TPL_LAPACK=OFF
         -DKokkosKernels_ENABLE_TESTS=OFF -DKokkosKernels_ENABLE_EXAMPLES=OFF)
case "$backend" in
  openmp) kokkos=(-DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=OFF) ;;
  cuda)
    # nvcc_wrapper's own default architecture (sm_70) is refused by CUDA 13, so
    # CMake's compiler check needs the architecture in CMAKE_CXX_FLAGS too.
    common+=(-DCMAKE_CXX_FLAGS="-arch=sm_${cuda_sm[$arch]}")
    kokkos+=(-DKokkos_ENABLE_CUDA=ON -DCMAKE_CXX_COMPILER="$work/kokkos/bin/nvcc_wrapper")
    kernels+=(-DCMAKE_CXX_COMPILER="$prefix/bin/nvcc_wrapper" -DKokkosKernels_ENABLE_TPL_CUBLAS=ON
              -DKokkosKernels_ENABLE_TPL_CUSPARSE=OFF -DKokkosKernels_ENABLE_TPL_CUSOLVER=OFF)
    ;;
esac
[ -z "$arch" ] || kokkos+=(-DKokkos_ARCH_"$arch"=ON)

cmake -S "$work/kokkos" -B "$work/kokkos-build" "${common[@]}" "${kokkos[@]}"
cmake --build "$work/kokkos-build" -j"$jobs"
cmake --install "$work/kokkos-build"
cmake -S "$work/kernels" -B "$work/kernels-build" "${common[@]}" "${kernels[@]}"
cmake --build "$work/kernels-build" -j"$jobs"
cmake --install "$work/kernels-build"
printf '%s\n' "$stamp_text" > "$stamp"
echo "installed Kokkos and KokkosKernels $backend${arch:+ ($arch)} in $prefix"
