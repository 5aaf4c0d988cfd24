#!/usr/bin/env bash
# Builds the program and its tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/, Debian's Kokkos) and runs the unit,
# command-line, MPI and checkpoint tests on it. A finding fails its test.
# Open MPI keeps some memory until exit: tests/sanitizers/lsan.supp names
# each library whose leaks are suppressed; nothing of ours is.
# Usage: scripts/test_sanitized.sh [--build-only | extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSK_SANITIZE=address,undefined
cmake --build build-asan -j"$(nproc)"
[ "${1:-}" = "--build-only" ] && exit 0

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Full stack unwinding on malloc: Open MPI's libraries have no frame pointers,
# and the suppressions match frames deep in the stack. A damaged HDF5 file
# can make the library ask malloc for absurd sizes (tests/fuzz/regressions);
# it handles the NULL that malloc returns without ASan, so ASan returns it too.
export ASAN_OPTIONS=fast_unwind_on_malloc=0:allocator_may_return_null=1
# use_tls=0: on some machines (Debian 12's libasan 8 with glibc 2.36) the
# leak checker's tracer dies with SIGSEGV reading the dynamic TLS of Open
# MPI's plug-ins ("Tracer caught signal 11"), failing every MPI program at
# exit. Without TLS as roots it cannot crash there, and it only reports more:
# memory reachable from thread-local storage alone would show as a leak.
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0:use_tls=0
export UBSAN_OPTIONS=print_stacktrace=1
# Open MPI and PMIx keep their plug-ins loaded, so that leak reports still
# name them (an unloaded plug-in's frames show as "<unknown module>").
export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
# The unit tests as one process (CTest knows them by their test-case names).
build-asan/tests/unit_tests
# The MPI equivalence runs once, with Sophia-G (its reductions, buckets and
# exact sums are the ones AdamW and Sophia-H use; their updates and the HVP
# are in the unit tests above): each is about 3 minutes under the sanitizers.
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -R '^(cli_|mpi_|checkpoint_)' \
    -E '^mpi_equivalence_(adamw|sophiah)$' "$@"
