#!/usr/bin/env python3
"""AdamW, Sophia-G and Sophia-H on the same model and data: trains one deck with
each optimizer over the same learning-rate sweep, then writes a table (steps to
reach a target validation loss, best and final validation loss, clip rate,
training time) as Markdown and a plot of the validation curves and clip rates.

Usage: bench/convergence.py [--deck configs/quickstart.toml] [--steps 300]
         [--optimizers adamw sophiag sophiah] [--lrs 5e-4 1e-3 2e-3]
         [--target 6.5] [--out out/convergence] [--exe build/sophia-kokkos]
Every optimizer runs every learning rate, so the sweeps are of equal size. The
other optimizer keys (rho, beta2, hessian_interval, ...) are the deck's.
Runs already finished in OUT (a metrics.jsonl with the final eval) are reused."""
import argparse
import json
import os
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"adamw": "--", "sophiag": "-", "sophiah": "-."}


def records_of(run_dir, kind):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    return [r for r in map(json.loads, open(path)) if r.get("type") == kind]


def train(args, opt, lr, run_dir):
    cmd = [args.exe, "train", "--config", args.deck, "--set", f"optimizer.type={opt}",
           "--set", f"optimizer.lr={lr}", "--set", f"train.steps={args.steps}",
           "--set", f"train.eval_interval={args.eval_interval}", "--set", f"output.dir={run_dir}",
           "--set", "train.log_interval=50"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def summary(args, opt, lr, run_dir):
    evals, steps = records_of(run_dir, "eval"), records_of(run_dir, "step")
    tail = [s["clip_rate"] for s in steps if "clip_rate" in s][-args.clip_window:]
    return {"optimizer": opt, "lr": lr, "evals": evals, "steps": steps,
            "reached": next((e["step"] for e in evals if e["val_loss"] <= args.target), None),
            "best": min(e["val_loss"] for e in evals), "final": evals[-1]["val_loss"],
            "clip": statistics.mean(tail) if tail else None,
            "seconds": sum(s["step_time"] for s in steps)}


def table(args, runs):
    lines = [f"| optimizer | lr | steps to val loss {args.target} | best val loss | final val loss "
             f"| clip rate, last {args.clip_window} steps | time in steps (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        reached = str(r["reached"]) if r["reached"] is not None else f"> {args.steps}"
        clip = f"{100 * r['clip']:.1f}%" if r["clip"] is not None else "-"
        lines.append(f"| {r['optimizer']} | {r['lr']:g} | {reached} | {r['best']:.3f} | {r['final']:.3f} "
                     f"| {clip} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def plot(args, runs, path):
    fig, (loss_ax, clip_ax) = plt.subplots(1, 2, figsize=(13, 5))
    colors = {lr: f"C{i}" for i, lr in enumerate(args.lrs)}
    for r in runs:
        label = f"{r['optimizer']} lr {r['lr']:g}"
        style, color = STYLE.get(r["optimizer"], ":"), colors[r["lr"]]
        loss_ax.plot([e["step"] for e in r["evals"]], [e["val_loss"] for e in r["evals"]], style, color=color,
                     marker="o", ms=3, label=label)
        clipped = [s for s in r["steps"] if "clip_rate" in s]
        if clipped:
            clip_ax.plot([s["step"] for s in clipped], [100 * s["clip_rate"] for s in clipped], style, color=color,
                         lw=0.8, label=label)
    loss_ax.axhline(args.target, color="gray", lw=0.8, ls=":")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("validation loss")
    loss_ax.set_ylim(top=min(11, max(r["evals"][1]["val_loss"] for r in runs if len(r["evals"]) > 1) + 0.5))
    clip_ax.set_xlabel("step")
    clip_ax.set_ylabel("coordinates clipped (%)")
    for ax in (loss_ax, clip_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deck", default="configs/quickstart.toml")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--optimizers", nargs="+", default=["adamw", "sophiag", "sophiah"])
    p.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3])
    p.add_argument("--target", type=float, default=6.5, help="validation loss to reach")
    p.add_argument("--eval-interval", type=int, default=25)
    p.add_argument("--clip-window", type=int, default=50, help="steps at the end over which the clip rate is averaged")
    p.add_argument("--out", default="out/convergence")
    p.add_argument("--exe", default="build/sophia-kokkos")
    args = p.parse_args()

    runs = []
    for opt in args.optimizers:
        for lr in args.lrs:
            run_dir = os.path.join(args.out, f"{opt}_lr{lr:g}")
            evals = records_of(run_dir, "eval")
            if not evals or evals[-1]["step"] != args.steps:
                train(args, opt, lr, run_dir)
            runs.append(summary(args, opt, lr, run_dir))

    text = table(args, runs)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    plot(args, runs, os.path.join(args.out, "convergence.png"))
    print(f"wrote {args.out}/table.md and {args.out}/convergence.png")


if __name__ == "__main__":
    sys.exit(main())
