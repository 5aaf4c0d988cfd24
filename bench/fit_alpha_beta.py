#!/usr/bin/env python3
"""Fits the alpha-beta model of a ring allreduce to `bench --allreduce` output:
an allreduce of n bytes over R ranks takes 2 (R-1) steps, each a message of
n/R bytes, so
    t(n) = 2 (R-1) alpha + 2 (R-1)/R n beta
with alpha the time per message (latency and software overhead) and 1/beta the
bandwidth each rank sends at. The fit minimises the relative error over every
message size (4 KiB to 64 MiB span four orders of magnitude of time), and the
table shows measured against fitted times per size.

--min-bytes N fits only the sizes of N bytes and more (the others are still
listed): a link shaped by a token bucket (tc tbf, the emulated cluster's links)
lets its burst through at memory speed, so messages not much larger than the
burst measure the machine rather than the link. alpha is kept at 0 or more.

Usage: bench/fit_alpha_beta.py BENCH_OUTPUT.txt [--min-bytes N] [--json FIT.json]
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


def fit(ranks, rows, min_bytes=0):
    """alpha (s), beta (s/byte) and the fitted time per size, fitted to the sizes of min_bytes or more."""
    used = [(b, s) for b, s in rows if b >= min_bytes]
    if len(used) < 2:
        sys.exit(f"fit_alpha_beta.py: fewer than 2 message sizes of {min_bytes} bytes or more to fit")
    n = np.array([b for b, _ in used], float)
    t = np.array([s for _, s in used], float)
    steps, per_byte = 2 * (ranks - 1), 2 * (ranks - 1) / ranks
    # (a + b n) / t = 1 in least squares: relative errors weigh every size alike.
    A = np.stack([np.full_like(n, steps) / t, per_byte * n / t], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    if alpha < 0:  # a negative latency fits no network: the bandwidth alone
        alpha, beta = 0.0, float(np.linalg.lstsq(A[:, 1:], np.ones_like(t), rcond=None)[0][0])
    every = np.array([b for b, _ in rows], float)
    return alpha, beta, steps * alpha + per_byte * every * beta


def predict(alpha, beta, ranks, nbytes):
    """Seconds of one ring allreduce of nbytes over ranks (0 for one rank)."""
    return 0.0 if ranks < 2 else 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * nbytes * beta


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report")
    p.add_argument("--min-bytes", type=int, default=0, help="fit only the message sizes of this many bytes or more")
    p.add_argument("--json", help="write ranks, nodes, alpha_s and beta_s_per_byte here")
    args = p.parse_args()
    ranks, nodes, rows = read_bench(args.report)
    if ranks < 2 or len(rows) < 2:
        sys.exit("fit_alpha_beta.py: needs a report of 2 or more ranks and 2 or more message sizes")
    alpha, beta, fitted = fit(ranks, rows, args.min_bytes)
    print(f"{ranks} ranks on {nodes} node(s): alpha = {alpha * 1e6:.1f} us per message, "
          f"bandwidth 1/beta = {1 / beta / 1e9:.3f} GB/s ({8 / beta / 1e9:.2f} Gbit/s)")
    print("| bytes | measured ms | model ms | error |\n|---|---|---|---|")
    worst = 0.0
    for (b, s), f in zip(rows, fitted):
        if b >= args.min_bytes:
            worst = max(worst, abs(f - s) / s)
        note = "" if b >= args.min_bytes else " (not fitted)"
        print(f"| {b} | {s * 1e3:.4f} | {f * 1e3:.4f} | {100 * (f - s) / s:+.1f}%{note} |")
    print(f"worst error {100 * worst:.1f}% over the fitted sizes")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ranks": ranks, "nodes": nodes, "alpha_s": alpha, "beta_s_per_byte": beta}, f, indent=2)


if __name__ == "__main__":
    main()
