#!/usr/bin/env python3
"""What data parallelism costs at scale: bytes each rank sends per optimizer
step for the gradient reduction (ring allreduce: 2 (R-1)/R of the fp32
gradients; ZeRO-1's reduce-scatter plus parameter allgather send the same), the
time that takes at a given network bandwidth per GPU, and the compute time of
the same step at a given sustained FLOP rate, for GPT-2 small and XL.
Sophia-G reduces the gradients once more on every Hessian step (every k steps).

A ring allreduce over R ranks also pays 2 (R-1) message latencies (alpha);
--fit takes alpha and the bandwidth from bench/fit_alpha_beta.py's --json.

--scale-out predicts whole steps instead (docs/scaling.md): GPT-2 124M, 350M
and 774M on 8 to 512 GPUs over stated networks, with the program's bucketed
reduction overlapping the backward pass except for the embeddings' buckets
(final only when the backward pass ends), and Sophia-G's Hessian refresh (an
extra forward, backward and reduction every k steps) amortised.

Usage: bench/comm_model.py [--bandwidth-gbs 25] [--alpha-us 0] [--fit FIT.json] [--tflops 100] [--tokens 491520] [--k 10]
       bench/comm_model.py --scale-out [--tflops 200] [--tokens 491520] [--k 10] [--link-efficiency 0.8]"""
import argparse
import json
import math

MODELS = {"gpt2 (124M)": 124_439_808, "gpt2-xl (1558M)": 1_557_611_200}
# (vocabulary, block, layers, channels) of the presets in src/core/config.cpp.
SHAPES = {"gpt2 (124M)": (50257, 1024, 12, 768), "gpt2-medium (350M)": (50257, 1024, 24, 1024),
          "gpt2-large (774M)": (50257, 1024, 36, 1280)}
# Network per GPU: nominal rate (Gbit/s) and time per message (latency and
# software, microseconds). One NIC per GPU, as in 8-GPU H100 nodes.
NETWORKS = {"InfiniBand NDR 400 Gb/s": (400, 5.0), "Ethernet 100 Gb/s (RoCE)": (100, 10.0)}


def gpt2_parameters(vocab, block, n_layer, n_embd):
    """(all parameters, those of the embeddings wte and wpe), the LM head tied to wte."""
    embeddings = vocab * n_embd + block * n_embd
    return embeddings + n_layer * (12 * n_embd * n_embd + 13 * n_embd) + 2 * n_embd, embeddings


def ring_s(alpha, beta, ranks, nbytes):
    """One ring allreduce of nbytes over ranks: 2 (R-1) messages and 2 (R-1)/R of the bytes sent per rank."""
    return 0.0 if ranks < 2 else 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * nbytes * beta


def scale_out_step(params, embeddings, gpus, tokens, tflops, alpha, beta, k, bucket_bytes=25e6, latencies=None):
    """Compute, full reduction and exposed reduction of one step, each amortised over Sophia-G's k.
    Compute is 6 N FLOPs per token (forward 2, backward 4); the backward pass is 2/3 of it and the
    reduction of every bucket but the embeddings' can hide behind it. latencies: the ranks whose ring
    pays message latencies (default all; a hierarchical allreduce pays them between nodes only)."""
    if latencies is not None:
        alpha = alpha * (latencies - 1) / (gpus - 1) if gpus > 1 else 0.0
    compute = 6 * params * tokens / gpus / (tflops * 1e12)
    backward = compute * 2 / 3
    n_buckets = math.ceil(4 * params / bucket_bytes)
    emb_buckets = math.ceil(4 * embeddings / bucket_bytes)
    early_bytes = 4 * (params - embeddings)
    late = ring_s(alpha, beta, gpus, 4 * embeddings) + (emb_buckets - 1) * 2 * (gpus - 1) * alpha * (gpus > 1)
    early = ring_s(alpha, beta, gpus, early_bytes) + (n_buckets - emb_buckets - 1) * 2 * (gpus - 1) * alpha * (gpus > 1)
    exposed = late + max(0.0, early - backward)
    # Every k-th step also refreshes the Hessian estimate: a forward and backward
    # of the same batch and one more reduction with the same exposure.
    return compute * (1 + 1 / k), (late + early) * (1 + 1 / k), exposed * (1 + 1 / k)


def scale_out(args):
    print(f"{args.tokens} tokens per step (global batch), {args.tflops:g} TFLOP/s sustained per GPU, Sophia-G "
          f"k = {args.k}, links at {args.link_efficiency:.0%} of their nominal rate, 25 MB buckets\n")
    print("| model | network | GPUs | tokens per GPU | compute | reduction | exposed | step | efficiency | "
          "tokens/s | exposed, hierarchical | efficiency, hierarchical |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, shape in SHAPES.items():
        params, embeddings = gpt2_parameters(*shape)
        for net, (gbit, alpha_us) in NETWORKS.items():
            beta = 1 / (gbit / 8 * 1e9 * args.link_efficiency)
            for gpus in (8, 32, 128, 512):
                compute, comm, exposed = scale_out_step(params, embeddings, gpus, args.tokens, args.tflops,
                                                        alpha_us * 1e-6, beta, args.k)
                step = compute + exposed
                # 8 GPUs per node: the latencies of a ring between nodes only.
                _, _, exposed_h = scale_out_step(params, embeddings, gpus, args.tokens, args.tflops,
                                                 alpha_us * 1e-6, beta, args.k, latencies=max(1, gpus // 8))
                print(f"| {name} | {net} | {gpus} | {args.tokens // gpus:,} | {compute * 1e3:,.1f} ms | "
                      f"{comm * 1e3:,.1f} ms | {exposed * 1e3:,.1f} ms | {step * 1e3:,.1f} ms | "
                      f"{compute / step:.2f} | {args.tokens / step:,.0f} | {exposed_h * 1e3:,.1f} ms | "
                      f"{compute / (compute + exposed_h):.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bandwidth-gbs", type=float, default=25.0, help="network bandwidth per GPU, GB/s")
    p.add_argument("--alpha-us", type=float, default=0.0, help="latency per message of the ring, microseconds")
    p.add_argument("--fit", help="alpha and bandwidth from bench/fit_alpha_beta.py --json (overrides both)")
    p.add_argument("--tflops", type=float, default=100.0, help="sustained compute per GPU, TFLOP/s")
    p.add_argument("--tokens", type=int, default=491_520, help="tokens per optimizer step (global batch)")
    p.add_argument("--k", type=int, default=10, help="Sophia-G's Hessian interval")
    p.add_argument("--scale-out", action="store_true", help="whole steps of GPT-2 124M-774M on 8-512 GPUs over "
                   "InfiniBand NDR and 100 Gb/s Ethernet (docs/scaling.md)")
    p.add_argument("--link-efficiency", type=float, default=0.8, help="--scale-out: share of a link's nominal "
                   "rate that an allreduce reaches")
    args = p.parse_args()
    if args.tflops <= 0 or args.tokens <= 0 or args.k < 1 or not 0 < args.link_efficiency <= 1:
        p.error("--tflops and --tokens must be positive, --k at least 1, --link-efficiency in (0, 1]")
    if args.scale_out:
        if args.tflops == 100.0:
            args.tflops = 200.0  # H100 SXM with TF32 tensor cores, about 40% of its dense peak
        return scale_out(args)
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
