#!/usr/bin/env python3
"""Draws a scaling sweep's CSV (scripts/scaling_table.py) against the ideal.

Usage: scripts/plot_scaling.py scaling.csv OUT_DIR

Writes OUT_DIR/speedup.png (throughput relative to the smallest rank count,
with the ideal line) and OUT_DIR/efficiency.png (speed-up over the rank
ratio, ideal 1), one series per mode (strong, weak)."""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def series(rows):
    by_mode = {}
    for r in rows:
        by_mode.setdefault(r["mode"], []).append((int(r["ranks"]), float(r["speedup"]), float(r["efficiency"])))
    return {mode: sorted(points) for mode, points in by_mode.items()}


def plot(by_mode, column, ideal, ylabel, path):
    fig, ax = plt.subplots(figsize=(5, 4))
    ranks = sorted({n for points in by_mode.values() for n, _, _ in points})
    ax.plot(ranks, [ideal(n, ranks[0]) for n in ranks], "k--", lw=1, label="ideal")
    for mode, points in sorted(by_mode.items()):
        ax.plot([p[0] for p in points], [p[column] for p in points], "o-", label=f"{mode} scaling")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ranks)
    ax.set_xticklabels([str(n) for n in ranks])
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, out = sys.argv[1:]
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
        by_mode = series(rows)
    except (OSError, KeyError, ValueError) as e:
        sys.exit(f"plot_scaling.py: error: {path}: {e}")
    if not rows:
        sys.exit(f"plot_scaling.py: error: {path} has no rows")
    plot(by_mode, 1, lambda n, base: n / base, "speed-up (tokens/s relative)", os.path.join(out, "speedup.png"))
    plot(by_mode, 2, lambda n, base: 1.0, "parallel efficiency", os.path.join(out, "efficiency.png"))


if __name__ == "__main__":
    main()
