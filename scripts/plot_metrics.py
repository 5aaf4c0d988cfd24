#!/usr/bin/env python3
"""Draws the loss curves of one or several training runs into a PNG.

Usage: scripts/plot_metrics.py RUN_DIR_OR_METRICS [...] [-o curves.png] [--x step|tokens|time]

Each argument is an output folder of `sophia-kokkos train` (its metrics.jsonl
is read) or a metrics.jsonl file. Training loss is drawn thin, validation loss
as points joined by a thicker line, one colour per run."""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(path):
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    steps, evals = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not a JSON line ({e.msg})")
            (steps if record.get("type") == "step" else evals).append(record)
    if not steps:
        sys.exit(f"{path}: no step records")
    return steps, evals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="output folders or metrics.jsonl files")
    parser.add_argument("-o", "--output", default="loss.png", help="PNG to write (default: loss.png)")
    parser.add_argument("--x", choices=["step", "tokens", "time"], default="step", help="horizontal axis")
    parser.add_argument("--labels", nargs="*", help="legend labels, one per run (default: folder names)")
    args = parser.parse_args()

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, run in enumerate(args.runs):
        steps, evals = read_metrics(run)
        label = args.labels[i] if args.labels and i < len(args.labels) else os.path.basename(os.path.normpath(run))
        tokens_per_step = steps[0]["tokens_per_s"] * steps[0]["step_time"]
        elapsed, clock = [], 0.0
        for s in steps:
            clock += s["step_time"]
            elapsed.append(clock)

        def x_of(step):
            if args.x == "tokens":
                return step * tokens_per_step
            if args.x == "time":
                return elapsed[min(step, len(elapsed)) - 1] if step > 0 else 0.0
            return step

        line, = ax.plot([x_of(s["step"]) for s in steps], [s["loss"] for s in steps], lw=0.7, alpha=0.6,
                        label=f"{label} train")
        if evals:
            ax.plot([x_of(e["step"]) for e in evals], [e["val_loss"] for e in evals], "o-", lw=2,
                    color=line.get_color(), label=f"{label} val")
    ax.set_xlabel({"step": "step", "tokens": "tokens", "time": "seconds"}[args.x])
    ax.set_ylabel("cross-entropy loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
