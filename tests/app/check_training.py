#!/usr/bin/env python3
"""End to end: trains the tiny deck with one optimizer on the Brown corpus
shards that scripts/setup.sh prepares, and checks the run's outputs and that
the validation loss fell by a stated margin. Also draws the curves.
Usage: check_training.py OPTIMIZER DECK SHARD_DIR OUT_DIR PLOT_SCRIPT -- SOPHIA_KOKKOS"""
import glob
import json
import math
import os
import shutil
import subprocess
import sys

import h5py

optimizer, deck, shards, out, plot, sep, exe = *sys.argv[1:7], sys.argv[7:]
assert sep == "--", __doc__
if not glob.glob(os.path.join(shards, "train_*.bin")):
    sys.exit(f"no training shards in {shards}: run scripts/setup.sh (it prepares the Brown corpus)")

# The validation loss of the untrained model is about ln(50257) = 10.8; the
# tiny model reaches about 7.2 in 150 steps. 3 nats is a margin that a broken
# optimizer, gradient or data pipeline does not reach.
MARGIN = 3.0
steps = 150
cmd = exe + ["train", "--config", deck, "--set", f"optimizer.type={optimizer}", "--set", f"train.steps={steps}",
             "--set", f"data.train_data={shards}/train_*.bin", "--set", f"data.val_data={shards}/val_*.bin",
             "--set", f"output.dir={out}"]
if optimizer == "adamw":
    cmd += ["--set", "optimizer.lr=2e-3"]
shutil.rmtree(out, ignore_errors=True)  # a run refuses a folder holding another run's output
subprocess.run(cmd, check=True, timeout=900)

records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
step_records = [r for r in records if r["type"] == "step"]
evals = [r for r in records if r["type"] == "eval"]
assert [r["step"] for r in step_records] == list(range(1, steps + 1)), "one step record per step, numbered from 1"
for r in step_records:
    assert math.isfinite(r["loss"]) and r["lr"] > 0 and r["grad_norm"] >= 0, r
    assert ("clip_rate" in r) == (optimizer in ("sophiag", "sophiah")), r
    # Sophia-G refreshes h after the updates of steps 10, 20, ...; Sophia-H within steps 11, 21, ...
    refreshes = {"sophiag": r["step"] % 10 == 0, "sophiah": r["step"] > 1 and r["step"] % 10 == 1}
    assert ("hessian_l1" in r) == refreshes.get(optimizer, False), r
assert evals[0]["step"] == 0 and evals[-1]["step"] == steps
first, last = evals[0]["val_loss"], evals[-1]["val_loss"]
assert abs(first - math.log(50257)) < 0.5, f"untrained validation loss {first}"
assert last < first - MARGIN, f"validation loss fell from {first:.3f} to {last:.3f}, less than {MARGIN}"

with h5py.File(os.path.join(out, "final.h5"), "r") as f:
    assert f["model/transformer.wte.weight"].shape == (50257, 64)
    assert dict(f["config"].attrs)["n_layer"] == 2
resolved = open(os.path.join(out, "config.toml")).read()
assert f'type = "{optimizer}"' in resolved or f"type = '{optimizer}'" in resolved, resolved

subprocess.run([sys.executable, plot, out, "-o", os.path.join(out, "loss.png")], check=True)
assert os.path.getsize(os.path.join(out, "loss.png")) > 10000
print(f"ok: {optimizer}: validation loss {first:.3f} -> {last:.3f} in {steps} steps")
