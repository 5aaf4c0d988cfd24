#!/usr/bin/env python3
"""`bench --allreduce` on 2 ranks, with MPI_Allreduce and with --nonblocking
(MPI_Iallreduce), reports every message size from 4 KiB to 64 MiB with
positive times and bandwidths that agree with them, and
bench/fit_alpha_beta.py recovers alpha and beta exactly from a report made from
known values (and refuses a file that is no report).
Usage: check_allreduce_bench.py WORKDIR -- MPIEXEC NP_FLAG SOPHIA_KOKKOS"""
import json
import os
import re
import subprocess
import sys

work, sep, mpiexec, np_flag, exe = sys.argv[1:6]
assert sep == "--", __doc__
os.makedirs(work, exist_ok=True)
fit_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "fit_alpha_beta.py")


def bench_rows(flags, calls):
    """bench --allreduce's table on 2 ranks, checked: 8 sizes, times and bandwidths that agree."""
    out = subprocess.run([mpiexec, np_flag, "2", exe, "bench", "--allreduce", "--warmup", "1", "--iters", "3"] + flags,
                         check=True, capture_output=True, text=True, timeout=300).stdout
    print(out)
    assert f"allreduce: 2 rank(s) on 1 node(s), float sums in place by {calls}," in out, out
    rows = [(int(b), float(ms), float(alg))
            for b, ms, alg, _ in re.findall(r"^\| (\d+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|", out, re.M)]
    assert [b for b, _, _ in rows] == [4096 * 4**i for i in range(8)], rows
    # The printed time is rounded to 1e-6 ms and the bandwidth to 1e-3 GB/s: the
    # bandwidth recomputed from the time may differ by what those roundings allow.
    for b, ms, alg in rows:
        assert ms > 0, (b, ms, alg)
        rounding = alg * 0.5e-6 / ms + 0.5e-3
        assert abs(b / (ms / 1e3) / 1e9 - alg) <= 0.001 * alg + rounding, (b, ms, alg)
    return rows


rows = bench_rows([], "MPI_Allreduce")
bench_rows(["--nonblocking"], "MPI_Iallreduce + MPI_Wait")

# Known alpha and beta on 4 ranks: the fit gives them back.
alpha, beta, R = 25e-6, 1 / 0.117e9, 4
lines = [f"allreduce: {R} rank(s) on 4 node(s), float sums in place", "| bytes | median ms | algorithm GB/s | bus GB/s |"]
for b, _, _ in rows:
    t = 2 * (R - 1) * alpha + 2 * (R - 1) / R * b * beta
    lines.append(f"| {b} | {t * 1e3:.9f} | 0 | 0 |")
report, fitted = os.path.join(work, "synthetic.txt"), os.path.join(work, "fit.json")
open(report, "w").write("\n".join(lines) + "\n")
subprocess.run([sys.executable, fit_script, report, "--json", fitted], check=True, timeout=60)
got = json.load(open(fitted))
assert got["ranks"] == R and got["nodes"] == 4, got
assert abs(got["alpha_s"] - alpha) < 1e-4 * alpha and abs(got["beta_s_per_byte"] - beta) < 1e-4 * beta, got
bad = subprocess.run([sys.executable, fit_script, fit_script], capture_output=True, text=True)
assert bad.returncode != 0 and "holds no 'bench --allreduce' report" in bad.stderr, bad.stderr
print("ok: bench --allreduce reports 8 sizes; the alpha-beta fit recovers known values")
