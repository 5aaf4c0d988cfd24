#!/usr/bin/env python3
"""A run never overwrites another run's output (metrics, final weights,
checkpoints) unless it resumes from that run's checkpoint or is told to with
`train --overwrite`; a job chain whose first link died before its first
checkpoint restarts in its folder; --init-from and --resume exclude each
other (exit 2).
Usage: check_output_dir.py GOOD_TOKENS WORK -- EXE"""
import os
import shutil
import subprocess
import sys

tokens, work, sep, exe = sys.argv[1:5]
assert sep == "--", __doc__
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
run_dir = os.path.join(work, "run")
SETS = ["model.vocab_size=97", "model.block_size=23", "model.n_layer=2", "model.n_head=3", "model.n_embd=30",
        "train.seq_len=8", "train.batch_size=2", "train.steps=3", f"data.train_data={tokens}", f"output.dir={run_dir}"]


def train(*args, expect=0):
    cmd = [exe, "train"] + [a for s in SETS for a in ("--set", s)] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == expect, f"{' '.join(args)}: exit {p.returncode}, expected {expect}\n{p.stdout[-1000:]}{p.stderr}"
    return p


def read(name):
    return open(os.path.join(run_dir, name), "rb").read()


train("--set", "checkpoint.interval=2", "--set", "checkpoint.keep_last=5")
metrics, weights = read("metrics.jsonl"), read("final.h5")
assert sorted(n for n in os.listdir(run_dir) if n.startswith("ckpt_")) == ["ckpt_00000002.h5"]

# Another deck without a checkpoint to resume from: refused, nothing touched.
p = train("--set", "train.steps=4", "--set", "optimizer.lr=1e-3", expect=1)
assert "holds another run" in p.stderr and "--overwrite" in p.stderr, p.stderr
assert read("metrics.jsonl") == metrics and read("final.h5") == weights
print("ok: a fresh run into a folder holding another run is refused; its files are unchanged")

# --overwrite replaces it: the earlier run's checkpoints go with it.
train("--set", "train.steps=4", "--set", "optimizer.lr=1e-3", "--overwrite")
assert read("metrics.jsonl") != metrics and read("final.h5") != weights
assert "ckpt_00000002.h5" not in os.listdir(run_dir) and "latest" not in os.listdir(run_dir)
print("ok: train --overwrite replaces the earlier run and its checkpoints")

# A chain's first link killed before its first checkpoint: the same deck
# restarts with --resume auto. A finished run is not restarted.
os.remove(os.path.join(run_dir, "final.h5"))
p = train("--set", "train.steps=4", "--set", "optimizer.lr=1e-3", "--resume", "auto")
assert "starting fresh" in p.stdout, p.stdout[-500:]
p = train("--set", "train.steps=4", "--set", "optimizer.lr=1e-3", "--resume", "auto", expect=1)
assert "holds another run" in p.stderr, p.stderr
assert "starting fresh" not in p.stdout, p.stdout[-500:]  # a refused run starts nothing
print("ok: --resume auto restarts an unfinished run of the same deck, not a finished one")

p = train("--init-from", os.path.join(run_dir, "final.h5"), "--resume", "auto", expect=2)
assert "--init-from and --resume exclude each other" in p.stderr, p.stderr
print("ok: --init-from with --resume is refused as a command-line conflict (exit 2)")
shutil.rmtree(work)
