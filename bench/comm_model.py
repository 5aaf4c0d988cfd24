#!/usr/bin/env python3
"""What data parallelism costs at scale: bytes each rank sends per optimizer
step for the gradient reduction (ring allreduce: 2 (R-1)/R of the fp32
gradients; ZeRO-1's reduce-scatter plus parameter allgather send the same), the
time that takes at a given network bandwidth per GPU, and the compute time of
the same step at a given sustained FLOP rate, for GPT-2 small and XL.
Sophia-G reduces the gradients once more on every Hessian step (every k steps).

A ring allreduce over R ranks also pays 2 (R-1) message latencies (alpha);
--fit takes alpha and the bandwidth from bench/fit_alpha_beta.py's --json.

Usage: bench/comm_model.py [--bandwidth-gbs 25] [--alpha-us 0] [--fit FIT.json] [--tflops 100] [--tokens 491520] [--k 10]"""
import argparse
import json

MODELS = {"gpt2 (124M)": 124_439_808, "gpt2-xl (1558M)": 1_557_611_200}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bandwidth-gbs", type=float, default=25.0, help="network bandwidth per GPU, GB/s")
    p.add_argument("--alpha-us", type=float, default=0.0, help="latency per message of the ring, microseconds")
    p.add_argument("--fit", help="alpha and bandwidth from bench/fit_alpha_beta.py --json (overrides both)")
    p.add_argument("--tflops", type=float, default=100.0, help="sustained compute per GPU, TFLOP/s")
    p.add_argument("--tokens", type=int, default=491_520, help="tokens per optimizer step (global batch)")
    p.add_argument("--k", type=int, default=10, help="Sophia-G's Hessian interval")
    args = p.parse_args()
    if args.fit:
        fit = json.load(open(args.fit))
        args.alpha_us, args.bandwidth_gbs = fit["alpha_s"] * 1e6, 1 / fit["beta_s_per_byte"] / 1e9
    print(f"{args.tokens} tokens per step, {args.bandwidth_gbs:g} GB/s, {args.alpha_us:g} us per message and "
          f"{args.tflops:g} TFLOP/s per GPU\n")
    print("| model | GPUs | MB sent per GPU per step | communication | compute | comm/compute | Sophia-G amortised comm |")
    print("|---|---|---|---|---|---|---|")
    for name, params in MODELS.items():
        grad_bytes = 4 * params
        for gpus in (8, 64, 512):
            sent = 2 * (gpus - 1) / gpus * grad_bytes
            comm = 2 * (gpus - 1) * args.alpha_us * 1e-6 + sent / (args.bandwidth_gbs * 1e9)
            compute = 6 * params * args.tokens / gpus / (args.tflops * 1e12)
            print(f"| {name} | {gpus} | {sent / 1e6:,.0f} | {comm * 1e3:,.0f} ms | {compute * 1e3:,.0f} ms | "
                  f"{comm / compute:.2f} | {comm * (1 + 1 / args.k) * 1e3:,.0f} ms |")


if __name__ == "__main__":
    main()
