#!/usr/bin/env python3
"""Fits the alpha-beta model of a ring allreduce to `bench --allreduce` output:
an allreduce of n bytes over R ranks takes 2 (R-1) steps, each a message of
n/R bytes, so
    t(n) = 2 (R-1) alpha + 2 (R-1)/R n beta
with alpha the time per message (latency and software overhead) and 1/beta the
bandwidth each rank sends at. The fit minimises the relative error over every
message size (4 KiB to 64 MiB span four orders of magnitude of time), and the
table shows measured against fitted times per size.

Usage: bench/fit_alpha_beta.py BENCH_OUTPUT.txt [--json FIT.json]
(BENCH_OUTPUT.txt: what `mpiexec -n R sophia-kokkos bench --allreduce` printed)"""
import argparse
import json
import re
import sys

import numpy as np


def read_bench(path):
    """(ranks, nodes, [(bytes, seconds)]) from a bench --allreduce report."""
    text = open(path).read()
    head = re.search(r"allreduce: (\d+) rank\(s\) on (\d+) node\(s\)", text)
    if not head:
        sys.exit(f"fit_alpha_beta.py: {path} holds no 'bench --allreduce' report")
    rows = [(int(b), float(ms) / 1e3) for b, ms in re.findall(r"^\| (\d+) \| ([0-9.]+) \|", text, re.M)]
    return int(head.group(1)), int(head.group(2)), rows


def fit(ranks, rows):
    """alpha (s), beta (s/byte) and the fitted time per size."""
    n = np.array([b for b, _ in rows], float)
    t = np.array([s for _, s in rows], float)
    steps, per_byte = 2 * (ranks - 1), 2 * (ranks - 1) / ranks
    # (a + b n) / t = 1 in least squares: relative errors weigh every size alike.
    A = np.stack([np.full_like(n, steps) / t, per_byte * n / t], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return alpha, beta, steps * alpha + per_byte * n * beta


def predict(alpha, beta, ranks, nbytes):
    """Seconds of one ring allreduce of nbytes over ranks (0 for one rank)."""
    return 0.0 if ranks < 2 else 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * nbytes * beta


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report")
    p.add_argument("--json", help="write ranks, nodes, alpha_s and beta_s_per_byte here")
    args = p.parse_args()
    ranks, nodes, rows = read_bench(args.report)
    if ranks < 2 or len(rows) < 2:
        sys.exit("fit_alpha_beta.py: needs a report of 2 or more ranks and 2 or more message sizes")
    alpha, beta, fitted = fit(ranks, rows)
    print(f"{ranks} ranks on {nodes} node(s): alpha = {alpha * 1e6:.1f} us per message, "
          f"bandwidth 1/beta = {1 / beta / 1e9:.3f} GB/s ({8 / beta / 1e9:.2f} Gbit/s)")
    print("| bytes | measured ms | model ms | error |\n|---|---|---|---|")
    worst = 0.0
    for (b, s), f in zip(rows, fitted):
        worst = max(worst, abs(f - s) / s)
        print(f"| {b} | {s * 1e3:.4f} | {f * 1e3:.4f} | {100 * (f - s) / s:+.1f}% |")
    print(f"worst error {100 * worst:.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ranks": ranks, "nodes": nodes, "alpha_s": alpha, "beta_s_per_byte": beta}, f, indent=2)


if __name__ == "__main__":
    main()
