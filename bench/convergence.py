#!/usr/bin/env python3
"""Sophia-G against AdamW on the same model and data: trains one deck with each
optimizer over a small learning-rate sweep, then writes a table (steps to reach
a target validation loss, best and final validation loss) as Markdown and a
plot of the validation curves.

Usage: bench/convergence.py [--deck configs/quickstart.toml] [--steps 300]
         [--sophiag-lrs 1e-3 2e-3 4e-3] [--adamw-lrs 1e-3 2e-3 4e-3]
         [--target 6.5] [--out out/convergence] [--exe build/sophia-kokkos]
Runs already finished in OUT (a metrics.jsonl with the final eval) are reused."""
import argparse
import json
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def evals_of(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    return [r for r in map(json.loads, open(path)) if r.get("type") == "eval"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deck", default="configs/quickstart.toml")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--sophiag-lrs", type=float, nargs="+", default=[1e-3, 2e-3, 4e-3])
    p.add_argument("--adamw-lrs", type=float, nargs="+", default=[1e-3, 2e-3, 4e-3])
    p.add_argument("--target", type=float, default=6.5, help="validation loss to reach")
    p.add_argument("--eval-interval", type=int, default=25)
    p.add_argument("--out", default="out/convergence")
    p.add_argument("--exe", default="build/sophia-kokkos")
    args = p.parse_args()

    runs = []
    for opt, lrs in (("sophiag", args.sophiag_lrs), ("adamw", args.adamw_lrs)):
        for lr in lrs:
            run_dir = os.path.join(args.out, f"{opt}_lr{lr:g}")
            evals = evals_of(run_dir)
            if not evals or evals[-1]["step"] != args.steps:
                cmd = [args.exe, "train", "--config", args.deck, "--set", f"optimizer.type={opt}",
                       "--set", f"optimizer.lr={lr}", "--set", f"train.steps={args.steps}",
                       "--set", f"train.eval_interval={args.eval_interval}", "--set", f"output.dir={run_dir}",
                       "--set", "train.log_interval=50"]
                print("+", " ".join(cmd), flush=True)
                subprocess.run(cmd, check=True)
                evals = evals_of(run_dir)
            reached = next((e["step"] for e in evals if e["val_loss"] <= args.target), None)
            runs.append({"optimizer": opt, "lr": lr, "evals": evals, "reached": reached,
                         "best": min(e["val_loss"] for e in evals), "final": evals[-1]["val_loss"]})

    lines = [f"| optimizer | lr | steps to val loss {args.target} | best val loss | final val loss |",
             "|---|---|---|---|---|"]
    for r in runs:
        reached = str(r["reached"]) if r["reached"] is not None else f"> {args.steps}"
        lines.append(f"| {r['optimizer']} | {r['lr']:g} | {reached} | {r['best']:.3f} | {r['final']:.3f} |")
    table = "\n".join(lines)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table + "\n")
    print(table)

    fig, ax = plt.subplots(figsize=(8, 5))
    for r in runs:
        style = "-" if r["optimizer"] == "sophiag" else "--"
        ax.plot([e["step"] for e in r["evals"]], [e["val_loss"] for e in r["evals"]], style, marker="o", ms=3,
                label=f"{r['optimizer']} lr {r['lr']:g}")
    ax.axhline(args.target, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss")
    ax.set_ylim(top=min(11, max(r["evals"][1]["val_loss"] for r in runs if len(r["evals"]) > 1) + 0.5))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "convergence.png"), dpi=120)
    print(f"wrote {args.out}/table.md and {args.out}/convergence.png")


if __name__ == "__main__":
    sys.exit(main())
