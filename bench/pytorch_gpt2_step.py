#!/usr/bin/env python3
"""PyTorch GPT-2 training step, the baseline for `sophia-kokkos bench` on the
same model and batch: forward+backward alone, and forward+backward plus an
AdamW step, each the median over timed iterations after warm-up. Plain
PyTorch (no transformers), GPT-2's architecture as in the project (pre-LN
blocks, tanh GELU, tied embeddings, causal attention). --precision fp32
(the default: strict float32, TF32 off, as the project's default cuBLAS
calls), tf32 (float32 with TF32 matmuls) or bf16 (autocast to bfloat16,
float32 weights); --compile wraps the model in torch.compile.

Usage: pytorch_gpt2_step.py [--batch 8] [--seq 1024] [--warmup 3] [--iters 10]
                            [--attention manual|sdpa] [--precision fp32|tf32|bf16]
                            [--compile] [--device cuda]"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H, attention):
        super().__init__()
        self.H, self.attention = H, attention
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def attn(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        if self.attention == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # T x T scores and probabilities in memory, like an unfused implementation
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, V=50257, T=1024, L=12, H=12, C=768, attention="manual"):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, H, attention) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied output embedding
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--attention", choices=["manual", "sdpa"], default="manual")
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = GPT2(attention=a.attention).to(dev)
    n_params = sum(t.numel() for t in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, weight_decay=0.1)
    forward = torch.compile(model) if a.compile else model
    idx = torch.randint(0, 50257, (a.batch, a.seq + 1), device=dev)
    x, y = idx[:, :-1].contiguous(), idx[:, 1:].contiguous()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def fwd_bwd():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = forward(x, y)
        loss.backward()
        return loss

    def full_step():
        opt.zero_grad(set_to_none=True)
        fwd_bwd()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def median_ms(fn):
        for _ in range(a.warmup):
            fn()
        times = []
        for _ in range(a.iters):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
            model.zero_grad(set_to_none=True)
        return statistics.median(times) * 1e3

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    fb = median_ms(fwd_bwd)
    step = median_ms(full_step)
    tokens = a.batch * a.seq
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    mode = ("torch.compile" if a.compile else "eager") + {"fp32": " fp32 (TF32 off, ", "tf32": " fp32 (TF32 on, ",
                                                          "bf16": " bf16 autocast ("}[a.precision]
    print(f"pytorch {torch.__version__} {mode}{a.attention} attention) on {name}: "
          f"GPT-2 {n_params / 1e6:.2f}M parameters, B={a.batch} T={a.seq}")
    print(f"pytorch forward+backward: median {fb:.1f} ms, {tokens / fb * 1e3:.0f} tokens/s")
    print(f"pytorch step with AdamW (clip 1.0): median {step:.1f} ms, {tokens / step * 1e3:.0f} tokens/s")
    if dev.type == "cuda":
        print(f"pytorch peak GPU memory: {torch.cuda.max_memory_allocated(dev) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
