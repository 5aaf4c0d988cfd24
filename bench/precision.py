#!/usr/bin/env python3
"""fp32 on OpenBLAS, fp32 on oneDNN and bf16 on oneDNN side by side: Sophia-G
training steps of `sophia-kokkos bench`, the three alternating for ROUNDS
rounds so that a disturbance of the shared machine spreads over all three;
prints a Markdown table of the medians over rounds (each round's figure is
bench's own median over --iters steps) and the ratios to the first executable's
fp32 on OpenBLAS. --exe may be given again for another build (e.g. Kokkos
OpenMP beside Serial): its three run in the same rounds, labelled with its
Kokkos backend.
Usage: bench/precision.py [--rounds 3] [--iters 5] [--exe build/sophia-kokkos ...] -- BENCH_MODEL_ARGS...
e.g.   bench/precision.py -- --model gpt2 --batch 4 --seq 64"""
import argparse
import re
import statistics
import subprocess

CONFIGS = [("fp32, OpenBLAS", ["--gemm", "blas", "--precision", "fp32"]),
           ("fp32, oneDNN", ["--gemm", "onednn", "--precision", "fp32"]),
           ("bf16, oneDNN", ["--gemm", "onednn", "--precision", "bf16"])]
FIELDS = {"step": r"training step \(sophiag\): median ([0-9.]+) ms",
          "hessian": r"hessian refresh[^:]*: median ([0-9.]+) ms",
          "gemm": r"on the same shapes: ([0-9.]+) GFLOP/s",
          "fraction": r"fraction of gemm rate: ([0-9.]+)",
          "memory": r"peak resident memory: ([0-9.]+) GB"}
BACKEND = r"parallelism: Kokkos (\S+)"


def run(exe, iters, model_args, extra):
    out = subprocess.run([exe, "bench", "--optimizer", "sophiag", "--iters", str(iters), *model_args, *extra],
                         capture_output=True, text=True, check=True).stdout
    return re.search(BACKEND, out).group(1), {k: float(re.search(p, out).group(1)) for k, p in FIELDS.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--exe", action="append")
    ap.add_argument("model_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    model_args = [x for x in a.model_args if x != "--"]
    exes = a.exe or ["build/sophia-kokkos"]
    results, owner = {}, {}  # label -> one result per round, in the order first run; label -> its exe
    for r in range(a.rounds):
        for exe in exes:
            for name, extra in CONFIGS:
                backend, result = run(exe, a.iters, model_args, extra)
                label = f"{name}, Kokkos {backend}" if len(exes) > 1 else name
                if owner.setdefault(label, exe) != exe:  # two builds of one backend
                    label += f" ({exe})"
                results.setdefault(label, []).append(result)
                print(f"round {r + 1} {label}: {result}", flush=True)
    med = {name: {k: statistics.median(x[k] for x in rs) for k in FIELDS} for name, rs in results.items()}
    base = next(iter(med.values()))
    print(f"\n{' '.join(model_args)}, medians of {a.rounds} rounds of {a.iters} steps\n")
    print("| gemms | step | Hessian refresh | gemm rate | fraction of gemm rate | peak memory | step speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, m in med.items():
        print(f"| {name} | {m['step']:.1f} ms | {m['hessian']:.1f} ms | {m['gemm']:.1f} GFLOP/s | "
              f"{m['fraction']:.3f} | {m['memory']:.2f} GB | {base['step'] / m['step']:.2f}x |")


if __name__ == "__main__":
    main()
