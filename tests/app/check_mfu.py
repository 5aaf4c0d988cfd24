#!/usr/bin/env python3
"""Model FLOP utilisation in the step line and metrics.jsonl: against the gemm
rate measured at start by default, against train.peak_flops when given. With
a given peak, mfu * peak * step_time is the same FLOP count on every step and
equals the per-step figure the start line prints.

Usage: check_mfu.py DECK SHARD_DIR OUT_DIR -- SOPHIA_KOKKOS"""
import json
import math
import os
import re
import shutil
import subprocess
import sys

deck, shards, out, sep, exe = *sys.argv[1:4], sys.argv[4], sys.argv[5:]
assert sep == "--", __doc__


def train(name, *sets):
    run_dir = os.path.join(out, name)
    shutil.rmtree(run_dir, ignore_errors=True)  # a run refuses a folder holding another run's output
    cmd = exe + ["train", "--config", deck, "--set", "train.steps=4", "--set", f"data.train_data={shards}/train_*.bin",
                 "--set", "data.val_data=", "--set", "train.log_interval=1", "--set", f"output.dir={run_dir}"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    steps = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    return p.stdout, [r for r in steps if r["type"] == "step"]


stdout, steps = train("measured")
legend = re.search(r"^mfu: .*\(([0-9.e+]+) GFLOP per step\) against ([0-9.]+) GFLOP/s, (.*)$", stdout, re.M)
assert legend and "measured at start" in legend.group(3), stdout
lines = re.findall(r"\| mfu ([0-9.]+)% \|", stdout)
assert len(lines) == 4, stdout
for r in steps:
    assert math.isfinite(r["mfu"]) and 0 < r["mfu"] < 5, r

peak = 1e12
stdout, steps = train("given", f"train.peak_flops={peak:g}")
legend = re.search(r"^mfu: .*\(([0-9.e+]+) GFLOP per step\) against ([0-9.]+) GFLOP/s, train.peak_flops$", stdout, re.M)
assert legend and float(legend.group(2)) == peak / 1e9, stdout
step_flops = float(legend.group(1)) * 1e9
for r in steps:
    flops = r["mfu"] * peak * r["step_time"]
    assert abs(flops - step_flops) <= 1e-3 * step_flops, (r, step_flops)  # the legend prints 4 digits
print(f"ok: {step_flops / 1e9:.3g} GFLOP per step; mfu {[round(r['mfu'], 4) for r in steps]}")
