#!/usr/bin/env python3
"""Training on a backend against itself and against another build: the quick
start deck, shortened, trained twice ends bit-identical (weights, optimizer
state, losses); a run killed after its checkpoint at the middle step and
resumed from it ends bit-identical to the uninterrupted run; with a second
program (REFERENCE: another backend's build, e.g. the CPU's), its validation
losses agree within 1e-3; with MPIEXEC, 2 ranks (sharing the device) equal 1
rank within rounding. The GPU check (bench/gpu_check.sh) runs it on the GPU
against the CPU build.
Usage: check_backend_training.py DECK SHARD_DIR WORKDIR [--steps N] [--reference PROGRAM]
                                 [--mpiexec MPIEXEC] -- SOPHIA_KOKKOS"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from runs import assert_same_files, datasets, losses  # noqa: E402

argv = sys.argv[1:]
if "--" not in argv:
    sys.exit(__doc__)
split = argv.index("--")
ap = argparse.ArgumentParser()
ap.add_argument("deck")
ap.add_argument("shards")
ap.add_argument("work")
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--reference")
ap.add_argument("--mpiexec")
args = ap.parse_args(argv[:split])
exe = argv[split + 1:]
steps, half = args.steps, args.steps // 2
shutil.rmtree(args.work, ignore_errors=True)
os.makedirs(args.work)


def train(program, name, *extra, ranks=1):
    out = os.path.join(args.work, name)
    cmd = (args.mpiexec.split() + ["-n", str(ranks)] if ranks > 1 else []) + program + [
        "train", "--config", args.deck]
    for s in [f"train.steps={steps}", f"train.eval_interval={half}", "train.eval_batches=4",
              f"data.train_data={args.shards}/train_*.bin", f"data.val_data={args.shards}/val_*.bin",
              f"checkpoint.interval={half}", "checkpoint.keep_last=10", f"output.dir={out}"]:
        cmd += ["--set", s]
    p = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"exit {p.returncode}: {' '.join(cmd)}\n{p.stdout[-1500:]}\n{p.stderr[-3000:]}"
    return out


def final(run):
    return os.path.join(run, f"ckpt_{steps:08d}.h5")


def val_losses(run):
    return [(step, loss) for kind, step, loss in losses(run) if kind == "eval"]


a = train(exe, "a")
b = train(exe, "b")
assert_same_files(final(a), final(b), "two runs")
assert losses(a) == losses(b), "two runs: loss history differs"
print(f"ok: two runs of {steps} steps end bit-identical: weights, optimizer state, losses")

# Killed after the middle checkpoint: a new run from that checkpoint alone.
c = os.path.join(args.work, "c")
os.makedirs(c)
shutil.copy(os.path.join(a, f"ckpt_{half:08d}.h5"), c)
train(exe, "c", "--resume", "auto")
assert_same_files(final(a), final(c), f"resumed at step {half}")
tail = [r for r in losses(a) if r[1] > half]
assert [r for r in losses(c) if r[1] > half] == tail, "resumed run: loss history differs"
print(f"ok: resumed from the checkpoint at step {half}: bit-identical to the uninterrupted run")

if args.reference:
    r = train(args.reference.split(), "reference")
    got, want = val_losses(a), val_losses(r)
    assert [s for s, _ in got] == [s for s, _ in want], (got, want)
    worst = max(abs(x - y) for (_, x), (_, y) in zip(got, want))
    print("validation losses (step, this build, reference):",
          ", ".join(f"({s}, {x:.5f}, {y:.5f})" for (s, x), (_, y) in zip(got, want)))
    assert worst <= 1e-3, f"validation losses differ from the reference build's by {worst:.2e} > 1e-3"
    print(f"ok: validation losses within {worst:.1e} of the reference build's (limit 1e-3)")

if args.mpiexec:
    two = train(exe, "two_ranks", ranks=2)
    da, db = datasets(final(a)), datasets(final(two))
    worst = max(float(abs(da[k] - db[k]).max()) for k in da if k.startswith("model/"))
    got, want = val_losses(two), val_losses(a)
    loss_gap = max(abs(x - y) for (_, x), (_, y) in zip(got, want))
    print(f"2 ranks against 1: largest weight difference {worst:.2e}, validation losses within {loss_gap:.2e}")
    assert loss_gap <= 1e-3, "2 ranks: validation losses differ from 1 rank's by more than 1e-3"
    print("ok: 2 ranks sharing the device train as 1 rank does")
