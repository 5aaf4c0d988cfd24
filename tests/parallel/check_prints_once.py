#!/usr/bin/env python3
"""Under MPI, rank 0 alone prints: with 2 ranks, `--help`, a command's help,
and a short training run print each of their lines once.

Usage: check_prints_once.py SHARD_DIR DECK OUT_DIR -- MPIEXEC NP_FLAG SOPHIA_KOKKOS"""
import collections
import os
import shutil
import subprocess
import sys

shards, deck, out, sep, *launch = sys.argv[1:]
assert sep == "--" and len(launch) >= 3, __doc__
mpiexec, exe = launch[:-1], launch[-1]


def run(*args):
    p = subprocess.run(mpiexec + ["2", exe, *args], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p.stdout


shutil.rmtree(os.path.join(out, "run"), ignore_errors=True)  # a run refuses a folder holding another run's output
failures = []
for args in (["--help"], ["bench", "--help"],
             ["train", "--config", deck, "--set", "train.steps=3", "--set", "train.log_interval=1",
              "--set", "train.batch_size=4", "--set", f"data.train_data={shards}/train_*.bin",
              "--set", f"data.val_data={shards}/val_*.bin", "--set", f"output.dir={os.path.join(out, 'run')}"]):
    lines = [line for line in run(*args).splitlines() if line.strip()]
    counts = collections.Counter(lines)
    # The deck's section headers are the only lines that may repeat (one per section).
    repeated = [line for line, n in counts.items() if n > 1 and not line.startswith("[")]
    what = " ".join(args[:2])
    if repeated:
        failures.append(f"{what}: printed more than once: {repeated[:5]}")
    if not any(line.startswith("usage: sophia-kokkos") or line.startswith("step 3/3") for line in lines):
        failures.append(f"{what}: expected output missing: {lines[:3]}")
    print(f"{what}: {len(lines)} lines")
for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
