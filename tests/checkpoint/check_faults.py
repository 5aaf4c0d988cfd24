#!/usr/bin/env python3
"""Faults: the job is killed with SIGKILL at many points, several of them
inside a checkpoint write (a test hook slows the writing down); after every
kill the checkpoint `latest` names opens and verifies, and resuming until done
ends bit-identical to an uninterrupted run. Then the disk fills up during a
checkpoint write (a small tmpfs): the write fails with a message, the previous
checkpoint is untouched, and the run stops with exit code 74, or continues
when the deck says so.
Usage: check_faults.py SHARD_DIR DECK WORKDIR -- SOPHIA_KOKKOS"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

shards, deck, work, sep, exe = sys.argv[1:6]
assert sep == "--", __doc__
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
STEPS = 16


def cmd(out, *sets):
    c = [exe, "train", "--config", deck, "--resume", "auto"]
    for s in [f"train.steps={STEPS}", "optimizer.hessian_interval=5", "train.batch_size=6", "train.seq_len=32",
              "schedule.warmup_steps=5", f"data.train_data={shards}/train_*.bin", "data.val_data=",
              "checkpoint.interval=2", "checkpoint.keep_last=2", f"output.dir={out}", *sets]:
        c += ["--set", s]
    return c


def final_params(run):
    with h5py.File(os.path.join(run, "final.h5"), "r") as f:
        return {k: f["model"][k][...] for k in f["model"]}


def step_losses(run):
    return [(r["step"], r["loss"]) for r in map(json.loads, open(os.path.join(run, "metrics.jsonl")))
            if r["type"] == "step"]


full = os.path.join(work, "uninterrupted")
subprocess.run(cmd(full), check=True, stdout=subprocess.DEVNULL, timeout=600)

# Kill -9 at pseudo-random moments; half of the runs write checkpoints slowly
# (300 ms per dataset, about 25 s per checkpoint) so that kills land inside
# the write.
run = os.path.join(work, "killed")
rng = random.Random(7)
kills = inside = 0
while True:
    slow = kills % 2 == 0 and kills < 8
    env = dict(os.environ, SOPHIA_KOKKOS_CHECKPOINT_DELAY_MS="300" if slow else "0")
    proc = subprocess.Popen(cmd(run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        proc.wait(timeout=rng.uniform(2.0, 8.0) if kills < 8 else 600)
        assert proc.returncode == 0, f"run ended with {proc.returncode}"
        break
    except subprocess.TimeoutExpired:
        writing = any(name.endswith(".tmp") for name in os.listdir(run)) if os.path.isdir(run) else False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        inside += writing
        latest = os.path.join(run, "latest")
        if os.path.exists(latest):
            ckpt = os.path.join(run, open(latest).read().strip())
            check = subprocess.run([exe, "inspect", ckpt], capture_output=True, text=True)
            assert check.returncode == 0, f"after kill {kills}: {ckpt} does not verify: {check.stderr}"
assert inside >= 2, f"only {inside} of {kills} kills landed inside a checkpoint write"
for k, v in final_params(full).items():
    assert np.array_equal(v, final_params(run)[k]), f"{k} differs after {kills} kills"
assert step_losses(full) == step_losses(run), "loss history differs"
print(f"ok: {kills} kills ({inside} inside a checkpoint write); latest always verified; final state identical")

# Disk full: a tmpfs that holds one checkpoint of the tiny model (40 MB) but
# not two.
disk = os.path.join(work, "small_disk")
os.makedirs(disk)
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", disk], capture_output=True, text=True)
if mounted.returncode != 0:
    print(f"SKIPPED disk-full checks: cannot mount a tmpfs here ({mounted.stderr.strip()})")
    sys.exit(77)
try:
    out = os.path.join(disk, "run")
    p = subprocess.run(cmd(out, "checkpoint.keep_last=3"), capture_output=True, text=True, timeout=600)
    assert p.returncode == 74, f"exit {p.returncode}: {p.stderr[-1000:]}"
    assert "checkpoint failed" in p.stderr and "disk full" in p.stderr, p.stderr
    names = sorted(os.listdir(out))
    assert "ckpt_00000002.h5" in names and not any(n.endswith(".tmp") for n in names), names
    check = subprocess.run([exe, "inspect", os.path.join(out, "ckpt_00000002.h5")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    print("ok: disk full: the write failed with a message, exit 74, the previous checkpoint verifies")

    shutil.rmtree(out)
    p = subprocess.run(cmd(out, "checkpoint.keep_last=3", "checkpoint.on_failure=continue"), capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr[-1000:]}"
    assert "checkpoint failed" in p.stderr and os.path.exists(os.path.join(out, "final.h5"))
    print("ok: disk full with on_failure = continue: the run goes on and finishes")
finally:
    subprocess.run(["umount", disk])
