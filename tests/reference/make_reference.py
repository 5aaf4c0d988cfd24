#!/usr/bin/python3
"""Golden data for the C++ tests: a tiny GPT-2 (nanoGPT semantics) in PyTorch.

Usage: /usr/bin/python3 tests/reference/make_reference.py [OUTDIR]
(OUTDIR defaults to the folder holding this script.)

Writes into OUTDIR:
  weights.h5   /config attributes + /model float32 parameters (nanoGPT names)
  tokens.bin   llm.c token file (256 x int32 header, then uint16 tokens)
  expected.h5  /loss (float64), root attributes B and T, /grad/<name> (float64)

Parameters are drawn in float32 and stored as such; the loss and gradients
are computed in float64 from exactly those float32 values.
"""
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = dict(vocab_size=97, block_size=23, n_layer=2, n_head=3, n_embd=30)
B, T = 3, 17
TORCH_SEED = 1234
NUMPY_SEED = 4321
TOKEN_MAGIC, TOKEN_VERSION = 20240520, 1


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class CausalSelfAttention(nn.Module):
    def __init__(self, C, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)

    def forward(self, x):
        Bx, Tx, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(Bx, Tx, self.n_head, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        mask = torch.ones(Tx, Tx, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(Bx, Tx, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(gelu_tanh(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, C, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.attn = CausalSelfAttention(C, n_head)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.mlp = MLP(C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd, eps=1e-5),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, idx, targets=None):
        tr = self.transformer
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = tr.wte(idx) + tr.wpe(pos)
        for block in tr.h:
            x = block(x)
        logits = self.lm_head(tr.ln_f(x))
        if targets is None:
            return logits, None
        # mean over all B*T positions of logsumexp(logits) - logits[target]
        lse = torch.logsumexp(logits, dim=-1)
        picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return logits, (lse - picked).mean()


def init_params(model):
    """Weights N(0, 0.02); biases N(0, 0.02); LayerNorm weights 1 + N(0, 0.1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.02)


def make_tokens():
    rng = np.random.RandomState(NUMPY_SEED)
    return rng.randint(0, CONFIG["vocab_size"], size=B * T + 1 + 5).astype(np.uint16)


def make_batch(tokens):
    t = torch.from_numpy(tokens.astype(np.int64))
    x = torch.stack([t[b * T: b * T + T] for b in range(B)])
    y = torch.stack([t[b * T + 1: b * T + T + 1] for b in range(B)])
    return x, y


def write_tokens(path, tokens):
    header = np.zeros(256, dtype="<i4")
    header[0], header[1], header[2] = TOKEN_MAGIC, TOKEN_VERSION, len(tokens)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype("<u2").tobytes())


def build_reference_model():
    """Model with float32-drawn parameters, converted exactly to float64."""
    torch.manual_seed(TORCH_SEED)
    model = GPT(**CONFIG)
    init_params(model)
    params32 = {n: p.detach().numpy().astype(np.float32).copy()
                for n, p in model.named_parameters()}
    return model.double(), params32


def self_checks(model, x, y, loss):
    logits, _ = model(x)
    ce = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
    assert abs(ce.item() - loss.item()) <= 1e-12 * abs(loss.item()), (ce.item(), loss.item())
    h = 1e-6
    checked = ["transformer.wte.weight", "transformer.h.0.attn.c_attn.weight",
               "transformer.h.1.ln_2.weight"]
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in checked:
            p = params[name]
            i = int(p.grad.abs().argmax())  # largest entry: well above rounding noise
            flat = p.view(-1)
            orig = flat[i].item()
            flat[i] = orig + h
            lp = model(x, y)[1].item()
            flat[i] = orig - h
            lm = model(x, y)[1].item()
            flat[i] = orig
            fd, ad = (lp - lm) / (2 * h), p.grad.view(-1)[i].item()
            assert abs(fd - ad) <= 1e-6 * abs(ad), (name, i, fd, ad)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(outdir, exist_ok=True)
    torch.set_grad_enabled(True)

    model, params32 = build_reference_model()
    tokens = make_tokens()
    x, y = make_batch(tokens)
    _, loss = model(x, y)
    model.zero_grad()
    loss.backward()
    self_checks(model, x, y, loss)

    with h5py.File(os.path.join(outdir, "weights.h5"), "w") as f:
        cfg = f.create_group("config")
        for k, v in CONFIG.items():
            cfg.attrs[k] = int(v)
        g = f.create_group("model")
        for name, arr in params32.items():
            g.create_dataset(name, data=arr, track_times=False)

    write_tokens(os.path.join(outdir, "tokens.bin"), tokens)

    with h5py.File(os.path.join(outdir, "expected.h5"), "w") as f:
        f.attrs["B"] = int(B)
        f.attrs["T"] = int(T)
        f.create_dataset("loss", data=np.float64(loss.item()), track_times=False)
        g = f.create_group("grad")
        for name, p in model.named_parameters():
            g.create_dataset(name, data=p.grad.numpy().astype(np.float64), track_times=False)

    n_params = sum(a.size for a in params32.values())
    print(f"loss {loss.item():.17g}  tensors {len(params32)}  parameters {n_params}  -> {outdir}")


if __name__ == "__main__":
    main()
