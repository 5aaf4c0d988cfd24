#!/usr/bin/env python3
"""Generation speed: `sophia-kokkos sample` with the key/value cache against a
full forward over the prefix at every token (--no-kv-cache), on a model of
GPT-2's shape with random weights (speed does not depend on the values).
Every sample runs the full --tokens (--no-stop) from a one-token prompt.
Runs the modes alternately RUNS times and prints the medians of tokens/s.

Usage: bench/generation.py [--runs 3] [--model gpt2] [--tokens 128] [--counts 1,4]
                           [--exe build/sophia-kokkos] [--data SHARD.bin] [--work DIR]"""
import argparse
import os
import re
import statistics
import subprocess


def tokens_per_s(exe, weights, tokens, count, cache):
    cmd = [exe, "sample", "--weights", weights, "--prompt-tokens", "50256", "--tokens", str(tokens), "--count",
           str(count), "--no-stop", "--ids"] + ([] if cache else ["--no-kv-cache"])
    err = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
    return float(re.search(r"([0-9.]+) tokens/s", err).group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--model", default="gpt2")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--counts", default="1,4", help="samples side by side, with the cache")
    p.add_argument("--exe", default="build/sophia-kokkos")
    p.add_argument("--data", default="tests/reference/tokens.bin", help="any token shard (for grad --init)")
    p.add_argument("--work", default="/tmp/sophia-kokkos-generation")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    weights = os.path.join(args.work, f"{args.model}.h5")
    subprocess.run([args.exe, "grad", "--init", "--model", args.model, "--data", args.data, "--batch", "1", "--seq",
                    "8", "--save-weights", weights, "--out", os.path.join(args.work, "grad.h5")],
                   check=True, capture_output=True)
    modes = [(c, True) for c in map(int, args.counts.split(","))] + [(1, False)]
    results = {m: [] for m in modes}
    for i in range(args.runs):
        for count, cache in modes:
            r = tokens_per_s(args.exe, weights, args.tokens, count, cache)
            results[(count, cache)].append(r)
            print(f"run {i + 1}: {count} sample(s), {'cache' if cache else 'full forward'}: {r:.1f} tokens/s", flush=True)
    print(f"\n{args.model}, {args.tokens} new tokens after 1, medians of {args.runs} (tokens/s over all samples):")
    base = statistics.median(results[(1, False)])
    for (count, cache), r in results.items():
        m = statistics.median(r)
        what = "key/value cache" if cache else "full forward per token"
        print(f"  {count} sample(s), {what:22s} {m:8.1f} tokens/s  {1000 * count / m:8.1f} ms/step  "
              f"{m / base:5.1f}x full forward")


if __name__ == "__main__":
    main()
