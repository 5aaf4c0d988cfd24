#!/usr/bin/env python3
"""Checkpoints and restarts: a run of 20 steps and the same run resumed from its
checkpoint at step K end bit-identical (parameters, optimizer state, loss
history), for Sophia-G and Sophia-H with K just before and just after a
Hessian refresh, for AdamW, and on 2 ranks with ZeRO-1; a 2-rank checkpoint resumes on 1 rank
(elastic) within rounding; SIGUSR1 stops a run with exit code 75 after a
checkpoint, and the resumed run ends identical; `--resume auto` skips a damaged
newest checkpoint, and with ZeRO-1 a checkpoint damaged in one rank's shard
only sends every rank to a fresh start together; damaged, incomplete,
non-finite or mismatched checkpoints, and counters that no run writes
(a negative step, a data position behind the step, a step past the deck's
train.steps), are refused with a message.
Usage: check_restart.py SHARD_DIR DECK WORKDIR -- MPIEXEC NP_FLAG SOPHIA_KOKKOS"""
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from runs import assert_same_files, losses  # noqa: E402

shards, deck, work, sep, mpiexec, np_flag, exe = sys.argv[1:8]
assert sep == "--", __doc__
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def cmd(out, ranks=1, *sets):
    c = ([mpiexec, np_flag, str(ranks)] if ranks > 1 else []) + [exe, "train", "--config", deck]
    for s in ["train.steps=20", "optimizer.hessian_interval=5", "train.batch_size=6", "train.seq_len=32",
              "schedule.warmup_steps=5", f"data.train_data={shards}/train_*.bin", f"data.val_data={shards}/val_*.bin",
              "train.eval_interval=5", "train.eval_batches=2", "checkpoint.interval=1", "checkpoint.keep_last=100",
              f"output.dir={out}", *sets]:
        c += ["--set", s]
    return c


def train(out, ranks=1, *sets, resume=None, expect=0):
    c = cmd(out, ranks, *sets) + (["--resume", resume] if resume else [])
    p = subprocess.run(c, capture_output=True, text=True, timeout=600)
    assert p.returncode == expect, f"exit {p.returncode}, expected {expect}: {' '.join(c)}\n{p.stderr[-2000:]}"
    return p


def assert_identical(a, b, what):
    """Run b ended as run a did; b is removed once compared."""
    assert_same_files(os.path.join(a, "ckpt_00000020.h5"), os.path.join(b, "ckpt_00000020.h5"), what)
    assert losses(a) == losses(b), f"{what}: loss history differs"
    print(f"ok: {what}: parameters, optimizer state and loss history bit-identical")
    shutil.rmtree(b)


def keep_only(run, *steps):
    """Remove a run's checkpoints but those of `steps`: every run here saves one
    per step (40 MB each), and three builds run this test on one disk."""
    for name in os.listdir(run):
        if name.startswith("ckpt_") and name not in [f"ckpt_{s:08d}.h5" for s in steps]:
            os.remove(os.path.join(run, name))


def resumed_from(full, step, name, ranks=1, *sets):
    """A copy of `full` as a run killed after its checkpoint at `step`, resumed."""
    run = os.path.join(work, name)
    os.makedirs(run)
    shutil.copy(os.path.join(full, f"ckpt_{step:08d}.h5"), run)
    shutil.copy(os.path.join(full, "metrics.jsonl"), run)  # with the lines written after the checkpoint
    train(run, ranks, *sets, resume="auto")
    return run


# Sophia-G refreshes h after steps 5, 10, ... (hessian_interval 5).
full = os.path.join(work, "sophiag_full")
train(full)
assert_identical(full, resumed_from(full, 4, "sophiag_k4"), "sophiag resumed at step 4 (before a refresh)")
assert_identical(full, resumed_from(full, 5, "sophiag_k5"), "sophiag resumed at step 5 (just after a refresh)")
keep_only(full, 10, 18, 19, 20)

# bf16 gemms: the bf16 copy of the weights is not in the checkpoint but made
# again from the fp32 weights on resume, so the resumed run is still exact.
bf16 = os.path.join(work, "bf16_full")
train(bf16, 1, "train.precision=bf16")
assert losses(bf16) != losses(full), "train.precision = bf16 trained exactly as fp32 did"
assert_identical(bf16, resumed_from(bf16, 7, "bf16_k7", 1, "train.precision=bf16"), "bf16 gemms, resumed at step 7")
shutil.rmtree(bf16)

adamw = os.path.join(work, "adamw_full")
train(adamw, 1, "optimizer.type=adamw")
assert_identical(adamw, resumed_from(adamw, 7, "adamw_k7", 1, "optimizer.type=adamw"), "adamw resumed at step 7")
shutil.rmtree(adamw)

# Sophia-H: the probes are drawn from the seed and the step, h is
# checkpointed; h is refreshed within steps 6, 11, ..., before their updates,
# so a run resumed at step 5 refreshes first.
sophiah_sets = ("optimizer.type=sophiah", "optimizer.probe=rademacher")
sophiah = os.path.join(work, "sophiah_full")
train(sophiah, 1, *sophiah_sets)
assert_identical(sophiah, resumed_from(sophiah, 5, "sophiah_k5", 1, *sophiah_sets), "sophiah resumed at step 5 (before a refresh)")
assert_identical(sophiah, resumed_from(sophiah, 6, "sophiah_k6", 1, *sophiah_sets), "sophiah resumed at step 6 (just after a refresh)")
shutil.rmtree(sophiah)

zero = os.path.join(work, "zero1_2ranks_full")
train(zero, 2, "parallel.zero1=true")
assert_identical(zero, resumed_from(zero, 5, "zero1_2ranks_k5", 2, "parallel.zero1=true"), "2 ranks, ZeRO-1, at step 5")
keep_only(zero, 5, 20)
plain = os.path.join(work, "2ranks_full")
train(plain, 2)
assert_identical(plain, resumed_from(plain, 6, "2ranks_k6", 2), "2 ranks at step 6")
shutil.rmtree(plain)

# Elastic: the sharded 2-rank checkpoint continues on 1 rank; the losses follow
# within the rounding of a different reduction order.
elastic = resumed_from(zero, 5, "elastic_2to1", 1)
for (ta, sa, la), (tb, sb, lb) in zip(losses(zero), losses(elastic)):
    assert (ta, sa) == (tb, sb) and abs(la - lb) <= 2e-5 * abs(lb), (ta, sa, la, lb)
print("ok: a 2-rank ZeRO-1 checkpoint resumes on 1 rank, losses within 2e-5")
shutil.rmtree(elastic)

# A finished run extended to more steps: the log names the change and the
# learning rate's jump (the cosine decay now runs over 24 steps).
extended = os.path.join(work, "extended")
os.makedirs(extended)
shutil.copy(os.path.join(full, "ckpt_00000020.h5"), extended)
p = train(extended, 1, "train.steps=24", resume="auto")
lr, min_lr, warmup = 2e-3, 2e-4, 5  # the tiny deck's optimizer.lr, its tenth, schedule.warmup_steps above
cosine = lambda step, total: min_lr + 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - 1 - warmup))) * (lr - min_lr)  # noqa: E731
expected = (f"the learning-rate schedule now follows this deck: {cosine(19, 20):.3g} at step 20 (the last done), "
            f"{cosine(20, 24):.3g} at step 21")
assert "train.steps: 20 -> 24" in p.stdout and expected in p.stdout, p.stdout
assert [s for t, s, _ in losses(extended) if t == "step"][-1] == 24
print("ok: extending a finished run names the learning rate's jump")
shutil.rmtree(extended)

# A signal: finish the step, checkpoint, exit 75; the resumed run ends identical.
sig = os.path.join(work, "signal")
proc = subprocess.Popen(cmd(sig, 1, "checkpoint.interval=0"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
metrics = os.path.join(sig, "metrics.jsonl")
while not (os.path.exists(metrics) and sum(1 for line in open(metrics) if '"step"' in line) >= 4):
    assert proc.poll() is None, "the run ended before the signal"
    time.sleep(0.05)
proc.send_signal(signal.SIGUSR1)
assert proc.wait(timeout=120) == 75, proc.stderr.read()
stopped_at = open(os.path.join(sig, "latest")).read().strip()
train(sig, 1, "checkpoint.interval=0", resume="auto")
assert_same_files(os.path.join(full, "final.h5"), os.path.join(sig, "final.h5"), "signal")
assert [x for x in losses(full)] == losses(sig), "signal: loss history differs"
print(f"ok: SIGUSR1 -> exit 75 after {stopped_at}; resumed run identical to the uninterrupted one")

# --resume auto skips a damaged newest checkpoint and takes the one before.
fallback = os.path.join(work, "fallback")
os.makedirs(fallback)
for step in (18, 19):
    shutil.copy(os.path.join(full, f"ckpt_{step:08d}.h5"), fallback)
shutil.copy(os.path.join(full, "metrics.jsonl"), fallback)


def flip_bytes(path, dataset="model/transformer.h.0.mlp.c_fc.weight"):
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + 100)
        data = bytearray(f.read(8))
        f.seek(offset + 100)
        f.write(bytes(b ^ 0xFF for b in data))


flip_bytes(os.path.join(fallback, "ckpt_00000019.h5"))
p = train(fallback, resume="auto")
assert "skipping damaged checkpoint" in p.stderr and "ckpt_00000019.h5" in p.stderr, p.stderr
assert "resume: " + os.path.join(fallback, "ckpt_00000018.h5") in p.stdout, p.stdout[-500:]
print("ok: --resume auto skips the damaged newest checkpoint")

# ZeRO-1, a checkpoint damaged only in rank 1's shard of the optimizer state
# (ln_f is the last tensor: rank 1's) and no older one: the ranks refuse it
# together, before either has taken anything from it, and start fresh, so the
# run ends as the uninterrupted one did.
split = os.path.join(work, "zero1_damaged_shard")
os.makedirs(split)
shutil.copy(os.path.join(zero, "ckpt_00000005.h5"), split)
flip_bytes(os.path.join(split, "ckpt_00000005.h5"), "optimizer/hessian/transformer.ln_f.bias")
p = train(split, 2, "parallel.zero1=true", resume="auto")
assert "skipping damaged checkpoint" in p.stderr and "starting fresh" in p.stdout, p.stderr + p.stdout[-500:]
assert_identical(zero, split, "ZeRO-1, checkpoint damaged in rank 1's shard only: both ranks started fresh")
shutil.rmtree(zero)

# Damaged or mismatched checkpoints are refused, by name.
source = os.path.join(full, "ckpt_00000010.h5")


def refused(name, damage, pattern, *sets):
    path = os.path.join(work, name + ".h5")
    shutil.copy(source, path)
    damage(path)
    for c in ([exe, "inspect", path], cmd(os.path.join(work, name), 1, *sets) + ["--resume", path]):
        if sets and c[1] == "inspect":
            continue  # a shape or optimizer mismatch is about the deck, not the file
        p = subprocess.run(c, capture_output=True, text=True, timeout=120)
        assert p.returncode == 1 and pattern in p.stderr, f"{name}: {' '.join(c[:3])}: exit {p.returncode}: {p.stderr}"
    print(f"ok: {name} refused: {pattern}")


def flip_header(path, dataset):
    """One bit of a dataset's object header: HDF5's metadata checksum refuses it."""
    with h5py.File(path, "r") as f:
        offset = h5py.h5o.get_info(f[dataset].id).addr + 40
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x01]))


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def edit(fn):
    def run(path):
        with h5py.File(path, "r+") as f:
            fn(f)
    return run


refused("truncated", truncate, "damaged or truncated")
refused("flipped_bytes", flip_bytes, "damaged (checksum mismatch")
refused("missing_dataset", edit(lambda f: f.__delitem__("optimizer/hessian/transformer.ln_f.bias")),
        "/optimizer/hessian/transformer.ln_f.bias is missing")
refused("wrong_shape", edit(lambda f: (f.__delitem__("model/transformer.wpe.weight"),
                                       f.create_dataset("model/transformer.wpe.weight", data=np.zeros((64, 63), "f4")))),
        "/model/transformer.wpe.weight has the wrong shape")
refused("wrong_type", edit(lambda f: (f.__delitem__("model/transformer.wpe.weight"),
                                      f.create_dataset("model/transformer.wpe.weight", data=np.zeros((64, 64), "i4")))),
        "/model/transformer.wpe.weight is not floating point")
refused("nan_in_model", edit(lambda f: f["model/transformer.wte.weight"].__setitem__((0, 5), np.nan)),
        "/model/transformer.wte.weight holds nan at element 5")
refused("inf_in_state", edit(lambda f: f["optimizer/hessian/transformer.ln_f.bias"].__setitem__(7, np.inf)),
        "/optimizer/hessian/transformer.ln_f.bias holds inf at element 7")
refused("flipped_header", lambda p: flip_header(p, "model/transformer.wpe.weight"),
        "/model/transformer.wpe.weight cannot be read: its header is damaged")
refused("not_hdf5", lambda p: open(p, "w").write("not a checkpoint\n"), "is not an HDF5 file")
refused("other_optimizer", lambda p: None, "optimizer is sophiag, the deck says adamw", "optimizer.type=adamw")
refused("unknown_optimizer", edit(lambda f: f["optimizer"].attrs.create("type", np.bytes_("sgd"))),
        "/optimizer: optimizer type 'sgd' is not one of sophiag, adamw, sophiah")
# Counters that no run writes: refused before anything is restored.
refused("negative_step", edit(lambda f: f["state"].attrs.modify("step", -5)), "/state: step -5 is negative")
refused("data_position_behind_step", edit(lambda f: f["state"].attrs.modify("data_position", 3)),
        "/state: data position 3 sequences does not fit step 10")
refused("step_past_the_deck", lambda p: None, "/state: step 10 is past the deck's train.steps = 8", "train.steps=8")
refused("other_shape", lambda p: None, "model shape differs from the deck's [model]: n_layer 2 (file) vs 3 (deck)",
        "model.n_layer=3")

# Checkpoints by wall time: with a tiny `minutes` every step is due.
timed = os.path.join(work, "by_time")
train(timed, 1, "train.steps=4", "checkpoint.interval=0", "checkpoint.minutes=0.0001", "data.val_data=")
names = sorted(n for n in os.listdir(timed) if n.startswith("ckpt_"))
assert names == [f"ckpt_{s:08d}.h5" for s in (1, 2, 3, 4)], names
print("ok: checkpoint.minutes saves by wall time")
shutil.rmtree(work)  # kept when a check fails, to look at
