#!/usr/bin/env python3
"""--help prints the program's own help alone: for the program and every
command, `--help` (and `-h` at the top) exits 0, starts with our usage line,
carries none of Kokkos' option list and fits on one screen (60 lines);
`--kokkos-help` still prints Kokkos' own list and exits 0.

Usage: check_help.py EXE"""
import subprocess
import sys

SCREEN = 60
KOKKOS_HELP = "Kokkos command line arguments"


def run(exe, *args):
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def main():
    exe = sys.argv[1]
    failures = []
    cases = [["--help"], ["-h"]] + [[c, "--help"] for c in ("train", "inspect", "grad", "bench", "prepare")]
    for args in cases:
        rc, out = run(exe, *args)
        lines = out.splitlines()
        what = " ".join(args)
        if rc != 0:
            failures.append(f"{what}: exit {rc}")
        if not lines or not lines[0].startswith("usage: sophia-kokkos"):
            failures.append(f"{what}: first line {lines[:1]!r}, not our usage line")
        if KOKKOS_HELP in out:
            failures.append(f"{what}: prints Kokkos' option list")
        if len(lines) > SCREEN:
            failures.append(f"{what}: {len(lines)} lines, more than {SCREEN}")
        if "--kokkos-help" not in out:
            failures.append(f"{what}: does not say where Kokkos' options are listed")
        print(f"{what}: {len(lines)} lines, exit {rc}")
    rc, out = run(exe, "--kokkos-help")
    if rc != 0 or KOKKOS_HELP not in out or "usage: sophia-kokkos" in out:
        failures.append(f"--kokkos-help: exit {rc}, Kokkos' list {'shown' if KOKKOS_HELP in out else 'missing'}")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
