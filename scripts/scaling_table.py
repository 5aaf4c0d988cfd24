#!/usr/bin/env python3
"""Gathers the runs of a scaling sweep (jobs/scaling_sweep.sh) into one CSV.

Usage: scripts/scaling_table.py [--warmup N] SWEEP_DIR > scaling.csv

SWEEP_DIR holds one folder per point, each with the point.json the sweep
wrote (mode, ranks, nodes, global batch) and the run's metrics.jsonl. Per
point: the mean over the timed steps (all but the first N) of the step time
and its phases, in seconds; Sophia-G's Hessian refreshes are included, so the
mean is the amortised step. Columns:
  mode, ranks, nodes, batch_size, steps: the point and how many steps were timed
  tokens_per_s: tokens of the global batch per second of mean step time
  step_time, t_data, t_forward, t_backward, t_comm_wait, t_optimizer, t_hessian
  exposed_comm: the share of the step spent waiting for the gradient reduction
  speedup: tokens_per_s over that of the mode's smallest rank count
  efficiency: speedup over the rank ratio (1 is ideal, for strong and weak)"""
import argparse
import csv
import json
import os
import sys

PHASES = ["step_time", "t_data", "t_forward", "t_backward", "t_comm_wait", "t_optimizer", "t_hessian"]
COLUMNS = ["mode", "ranks", "nodes", "batch_size", "steps", "tokens_per_s"] + PHASES + ["exposed_comm", "speedup",
                                                                                         "efficiency"]


def fail(message):
    sys.exit(f"scaling_table.py: error: {message}")


def read_point(folder, warmup):
    try:
        with open(os.path.join(folder, "point.json")) as f:
            point = json.load(f)
        with open(os.path.join(folder, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        fail(f"{folder}: {e}")
    steps = [r for r in records if r.get("type") == "step" and r["step"] > warmup]
    if not steps:
        fail(f"{folder}: no timed steps after the {warmup} warm-up steps")
    row = dict(point, steps=len(steps))
    for phase in PHASES:
        row[phase] = sum(r[phase] for r in steps) / len(steps)
    tokens = steps[0]["tokens_per_s"] * steps[0]["step_time"]  # tokens per step, over all ranks
    row["tokens_per_s"] = tokens / row["step_time"]
    row["exposed_comm"] = row["t_comm_wait"] / row["step_time"]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir")
    parser.add_argument("--warmup", type=int, default=3, help="first steps of each run not timed")
    args = parser.parse_args()
    folders = sorted(os.path.join(args.sweep_dir, d) for d in os.listdir(args.sweep_dir)
                     if os.path.isfile(os.path.join(args.sweep_dir, d, "point.json")))
    if not folders:
        fail(f"no sweep points (folders with point.json) in {args.sweep_dir}")
    rows = sorted((read_point(f, args.warmup) for f in folders), key=lambda r: (r["mode"], r["ranks"]))
    for row in rows:
        base = min((r for r in rows if r["mode"] == row["mode"]), key=lambda r: r["ranks"])
        row["speedup"] = row["tokens_per_s"] / base["tokens_per_s"]
        row["efficiency"] = row["speedup"] / (row["ranks"] / base["ranks"])
    out = csv.DictWriter(sys.stdout, COLUMNS, extrasaction="ignore", lineterminator="\n")
    out.writeheader()
    for row in rows:
        out.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


if __name__ == "__main__":
    main()
