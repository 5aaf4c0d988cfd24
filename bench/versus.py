#!/usr/bin/env python3
"""Our AdamW step against llm.c's CPU trainer and PyTorch on GPT-2 124M at
B=4, T=64, the programs alternating for ROUNDS rounds in one sitting; prints
each program's figures and the median of the rounds, as a Markdown table.

llm.c is not part of the project: build its train_gpt2.c yourself (its
Makefile's CPU flags) into LLMC_DIR. This script writes there what its
main() reads: gpt2_124M.bin with random weights in llm.c's checkpoint format
(only the step time is compared) and, as its "tiny_shakespeare" data, links
to our shards (the same file format). llm.c's figure is the median of its
steps 1 to 5 (it evaluates before step 0 and generates at step 20).

Usage: bench/versus.py --llmc LLMC_DIR --shards data/brown_shards [--rounds 3]
                       [--ours "EXE [BENCH OPTIONS]" ...]
Each --ours is our program with options of its own, e.g. "build/sophia-kokkos
--gemm blas" or "./omp.sh --precision bf16" (a wrapper that sets OMP_* for
the OpenMP build); default: "build/sophia-kokkos"."""
import argparse
import os
import re
import shlex
import statistics
import subprocess

import numpy as np

OURS = ["bench", "--model", "gpt2", "--batch", "4", "--seq", "64", "--optimizer", "adamw", "--iters", "5"]
OURS_STEP = r"training step \(adamw\): median ([0-9.]+) ms"
PYTORCH_STEP = r"pytorch step with AdamW[^:]*: median ([0-9.]+) ms"
LLMC_STEP = r"step (\d+): train loss \S+ \(took ([0-9.]+) ms\)"


def write_llmc_inputs(llmc, shards):
    """llm.c's checkpoint (header of 256 int32, then every parameter) and data."""
    V, Vp, maxT, L, NH, C = 50257, 50304, 1024, 12, 12, 768
    ckpt = os.path.join(llmc, "gpt2_124M.bin")
    if not os.path.exists(ckpt):
        per_layer = 2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C + C
        n = Vp * C + maxT * C + L * per_layer + 2 * C
        header = np.zeros(256, np.int32)
        header[:8] = [20240326, 3, maxT, V, L, NH, C, Vp]
        with open(ckpt, "wb") as f:
            f.write(header.tobytes())
            f.write((np.random.default_rng(0).standard_normal(n, dtype=np.float32) * 0.02).tobytes())
    data = os.path.join(llmc, "dev", "data", "tinyshakespeare")
    os.makedirs(data, exist_ok=True)
    for split in ("train", "val"):
        link = os.path.join(data, f"tiny_shakespeare_{split}.bin")
        if not os.path.exists(link):
            os.symlink(os.path.abspath(os.path.join(shards, f"{split}_000000.bin")), link)


def llmc_step(llmc):
    """Median of llm.c's steps 1..5; stops the program after step 5."""
    proc = subprocess.Popen(["./train_gpt2"], cwd=llmc, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="2"))
    times = []
    for line in proc.stdout:
        m = re.search(LLMC_STEP, line)
        if m and int(m.group(1)) >= 1:
            times.append(float(m.group(2)))
            if len(times) == 5:
                break
    proc.kill()
    proc.wait()
    if len(times) < 5:
        raise SystemExit(f"llm.c's train_gpt2 in {llmc} printed {len(times)} step times, not 5")
    return statistics.median(times)


def figure(cmd, pattern, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env).stdout
    m = re.search(pattern, out)
    if not m:
        raise SystemExit(f"no step time from {' '.join(cmd)}:\n{out[-2000:]}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmc", required=True)
    ap.add_argument("--shards", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ours", action="append")
    a = ap.parse_args()
    if not os.access(os.path.join(a.llmc, "train_gpt2"), os.X_OK):
        raise SystemExit(f"versus.py: no train_gpt2 program in {a.llmc}: build llm.c's train_gpt2.c there first")
    write_llmc_inputs(a.llmc, a.shards)
    torch_env = dict(os.environ, OMP_NUM_THREADS="2")
    pytorch = ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "pytorch_gpt2_step.py"), "--batch", "4",
               "--seq", "64", "--warmup", "2", "--iters", "5", "--device", "cpu", "--precision"]
    programs = []
    for ours in a.ours or ["build/sophia-kokkos"]:
        exe, *options = shlex.split(ours)
        programs.append((ours, lambda e=exe, o=options: figure([e, *OURS, *o], OURS_STEP)))
    programs += [("llm.c train_gpt2.c fp32", lambda: llmc_step(a.llmc)),
                 ("PyTorch eager fp32", lambda: figure(pytorch + ["fp32"], PYTORCH_STEP, torch_env)),
                 ("PyTorch autocast bf16", lambda: figure(pytorch + ["bf16"], PYTORCH_STEP, torch_env))]
    results = {name: [] for name, _ in programs}
    for r in range(a.rounds):
        for name, run in programs:
            results[name].append(run())
            print(f"round {r + 1} {name}: {results[name][-1]}", flush=True)
    print("\n| program | step (rounds) | median |\n|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {', '.join(f'{v:.0f}' for v in values)} ms | {statistics.median(values):.1f} ms |")


if __name__ == "__main__":
    main()
