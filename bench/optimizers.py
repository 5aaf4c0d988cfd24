#!/usr/bin/env python3
"""Full training steps with AdamW and with Sophia-G on the same model and batch,
next to forward+backward alone: runs `sophia-kokkos bench` in the three modes,
alternating, RUNS times, and prints the medians, Sophia-G's step cost amortised
over its Hessian interval against AdamW's plus the extra forward+backward it
needs, the fraction of the gemm rate and peak memory.

Usage: bench/optimizers.py [--runs 3] [--exe build/sophia-kokkos] [-- bench options...]"""
import argparse
import re
import statistics
import subprocess
import sys


def run(exe, mode, extra):
    cmd = [exe, "bench"] + (["--optimizer", mode] if mode != "fb" else []) + extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    get = lambda pattern: float(re.search(pattern, out, re.M).group(1))  # noqa: E731
    r = {"step": get(r"median ([0-9.]+) ms over"), "fraction": get(r"^fraction of gemm rate: ([0-9.]+)"),
         "rss": get(r"^peak resident memory: ([0-9.]+) GB")}
    if mode == "sophiag":
        r["hessian"] = get(r"^hessian refresh \([^)]*\): median ([0-9.]+) ms")
        r["interval"] = get(r"every ([0-9]+) steps")
    return out, r


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--exe", default="build/sophia-kokkos")
    p.add_argument("extra", nargs="*", help="options for sophia-kokkos bench (after --)")
    args = p.parse_args()
    results = {"fb": [], "adamw": [], "sophiag": []}
    for i in range(args.runs):
        for mode in results:
            out, r = run(args.exe, mode, args.extra)
            if i == 0 and mode == "fb":
                print("\n".join(out.splitlines()[:2]))
            print(f"run {i + 1} {mode}: " + ", ".join(f"{k} {v:g}" for k, v in r.items()), flush=True)
            results[mode].append(r)

    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in results.items()}
    k = med["sophiag"]["interval"]
    print(f"\nmedians over {args.runs} runs:")
    print(f"  forward+backward        {med['fb']['step']:8.1f} ms  fraction of gemm rate {med['fb']['fraction']:.3f}")
    for m in ("adamw", "sophiag"):
        print(f"  {m + ' training step':24}{med[m]['step']:8.1f} ms  fraction of gemm rate {med[m]['fraction']:.3f}"
              f"  peak memory {med[m]['rss']:.2f} GB")
    sophia = med["sophiag"]["step"] + med["sophiag"]["hessian"] / k
    budget = med["adamw"]["step"] + med["fb"]["step"] / k
    print(f"  sophiag hessian refresh {med['sophiag']['hessian']:8.1f} ms, every {k:g} steps")
    print(f"  sophiag amortised       {sophia:8.1f} ms per step")
    print(f"  {'adamw + fwd+bwd / ' + format(k, 'g'):24}{budget:8.1f} ms per step")
    print(f"  ratio                   {sophia / budget:8.3f}")


if __name__ == "__main__":
    sys.exit(main())
