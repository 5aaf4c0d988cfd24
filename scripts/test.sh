#!/usr/bin/env bash
# Runs the whole test suite (unit, command-line and MPI tests) of the build
# made by scripts/setup.sh. Extra arguments go to ctest (e.g. -R grad). The
# multi-node tests on an emulated cluster (label `cluster`) are left out: run
# them with `ctest --test-dir build -L cluster` (CI does, in a stage of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenMPI refuses to start as root without these; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" -LE cluster "$@"
