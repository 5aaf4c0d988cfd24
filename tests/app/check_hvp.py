#!/usr/bin/env python3
"""Checks `sophia-kokkos hvp` against a float64 PyTorch Hessian-vector product
(double backward) on a model of odd sizes: T = 67 (not a multiple of the
attention tiles), head size 48, vocabulary 97, the LM head tied to wte. Every
tensor of H.v within 1e-3 of the reference relative to its largest entry;
u * (H u) is the product of the two; and H is symmetric (u.Hv = v.Hu) and
H.v linear in v.
Usage: check_hvp.py WORK_DIR -- [LAUNCHER...] SOPHIA_KOKKOS"""
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from make_reference import GPT, init_params, write_tokens  # noqa: E402

work, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
assert sep == "--", __doc__
os.makedirs(work, exist_ok=True)
CONFIG = dict(vocab_size=97, block_size=80, n_layer=2, n_head=2, n_embd=96)
B, T = 2, 67

torch.manual_seed(7)
model = GPT(**CONFIG)
init_params(model)
names = [n for n, _ in model.named_parameters()]
params32 = {n: p.detach().numpy().astype(np.float32) for n, p in model.named_parameters()}
model = model.double()
tokens = np.random.RandomState(11).randint(0, CONFIG["vocab_size"], size=B * T + 1).astype(np.uint16)
weights, data = os.path.join(work, "weights.h5"), os.path.join(work, "tokens.bin")
with h5py.File(weights, "w") as f:
    for k, v in CONFIG.items():
        f.require_group("config").attrs[k] = int(v)
    for n, a in params32.items():
        f[f"model/{n}"] = a
write_tokens(data, tokens)


def reference_hvp(direction):
    t = torch.from_numpy(tokens.astype(np.int64))
    x = torch.stack([t[b * T:(b + 1) * T] for b in range(B)])
    y = torch.stack([t[b * T + 1:(b + 1) * T + 1] for b in range(B)])
    params = [p for _, p in model.named_parameters()]
    _, loss = model(x, y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * torch.from_numpy(direction[n].astype(np.float64))).sum() for n, g in zip(names, grads))
    return {n: h.detach().numpy() for n, h in zip(names, torch.autograd.grad(dot, params))}


def run_hvp(out, *direction):
    subprocess.run(cmd + ["hvp", "--weights", weights, "--data", data, "--batch", str(B), "--seq", str(T),
                          "--out", out, *direction], check=True, timeout=600)
    with h5py.File(out, "r") as f:
        return {g: {n: f[g][n][...].astype(np.float64) for n in names} for g in ("direction", "hvp", "uhu")}


def direction_file(path, seed):
    rng = np.random.RandomState(seed)
    with h5py.File(path, "w") as f:
        for n, a in params32.items():
            f[f"grad/{n}"] = rng.standard_normal(a.shape).astype(np.float32)
    return path


# Against PyTorch, for a seeded Gaussian and a Rademacher direction.
worst = 0.0
for kind in ("gaussian", "rademacher"):
    got = run_hvp(os.path.join(work, f"hvp_{kind}.h5"), "--direction", kind, "--direction-seed", "5")
    u = got["direction"]
    if kind == "rademacher":
        assert all(set(np.unique(a)) <= {-1.0, 1.0} for a in u.values()), "rademacher entries are not +-1"
    ref = reference_hvp(u)
    for n in names:
        err = np.abs(got["hvp"][n] - ref[n]).max() / np.abs(ref[n]).max()
        assert err <= 1e-3, f"{kind}: {n}: relative error {err:.2e}"
        worst = max(worst, err)
        assert np.array_equal(got["uhu"][n].astype(np.float32), (u[n] * got["hvp"][n]).astype(np.float32)), n

# Symmetry and linearity, through direction files.
fu, fv = direction_file(os.path.join(work, "u.h5"), 1), direction_file(os.path.join(work, "v.h5"), 2)
u, hu = (lambda r: (r["direction"], r["hvp"]))(run_hvp(os.path.join(work, "hu.h5"), "--direction", fu))
v, hv = (lambda r: (r["direction"], r["hvp"]))(run_hvp(os.path.join(work, "hv.h5"), "--direction", fv))
flat = lambda d: np.concatenate([d[n].ravel() for n in names])  # noqa: E731
uhv, vhu = flat(u) @ flat(hv), flat(v) @ flat(hu)
scale = np.linalg.norm(flat(u)) * np.linalg.norm(flat(hv))
assert abs(uhv - vhu) <= 1e-5 * scale, f"u.Hv {uhv} != v.Hu {vhu} (scale {scale})"
with h5py.File(os.path.join(work, "w.h5"), "w") as f:
    for n in names:
        f[f"grad/{n}"] = (2 * u[n] - 3 * v[n]).astype(np.float32)
hw = run_hvp(os.path.join(work, "hw.h5"), "--direction", os.path.join(work, "w.h5"))["hvp"]
lin = np.abs(flat(hw) - (2 * flat(hu) - 3 * flat(hv))).max() / np.abs(flat(hw)).max()
assert lin <= 1e-5, f"H(2u - 3v) differs from 2Hu - 3Hv by {lin:.2e}"
print(f"ok: worst H.v error {worst:.1e}; u.Hv {uhv:.6g}, v.Hu {vhu:.6g}; linearity {lin:.1e}")
