#!/usr/bin/python3
"""Exact Gauss-Newton diagonal for the Sophia-G (GNB) estimator tests.

Usage: /usr/bin/python3 tests/reference/make_gauss_newton.py [OUTDIR]
(OUTDIR defaults to the folder holding this script; weights.h5 and tokens.bin
are read from the folder holding this script.)

The GNB estimator draws labels yhat_i ~ softmax(z_i) independently for each of
the N = B*T positions, takes ghat = d/dtheta (1/N) sum_i CE(z_i, yhat_i) and
returns N * ghat^2.  Its expectation is diag(G) with
    G = (1/N) sum_i J_i^T (diag(p_i) - p_i p_i^T) J_i,   J_i = dz_i/dtheta.
This script computes diag(G) exactly in float64 from the per-position,
per-vocabulary-entry logit gradients (N*V backward passes), and writes

  gauss_newton.h5   root attributes B, T (ints); /gn_diag/<name> float64,
                    same names and shapes as /model in weights.h5.

Input batch: row b is tokens[b*T : b*T+T] for B=2, T=8.

Self-checks (assertions):
  * a few diagonal entries against central finite differences of the logits;
  * exact mean/variance of the estimator (closed forms) against Monte Carlo;
  * Monte Carlo with 4000 label draws: per-tensor sums within 5% of exact.
It then prints the statistics used to size the C++ test (per-tensor sum
tolerance, relative L2 tolerance) and how a set of incorrect estimators
score against those tolerances.
"""
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_reference as ref  # noqa: E402  (model definition only; main() is guarded)

B, T = 2, 8
N = B * T
TOKEN_MAGIC = 20240520
MC_SEED = 20240611
MC_POOL = 16000          # label draws in the Monte Carlo pool
MC_BLOCK = 500           # smallest block; blocks of 1000 and 2000 are unions
SELF_CHECK_S = 4000      # draws used for the 5% per-tensor-sum assertion
SUGGESTED_S = 4000       # sample count suggested for the C++ test
L2_FACTOR = 1.45         # relative-L2 tolerance = L2_FACTOR * closed-form rms at S
Z_SUM = 7.0              # sigmas for the per-tensor-sum tolerance


# ----------------------------------------------------------------------------
# Inputs and model
# ----------------------------------------------------------------------------
def read_tokens(path):
    header = np.fromfile(path, dtype="<i4", count=256)
    assert header[0] == TOKEN_MAGIC, header[:3]
    tokens = np.fromfile(path, dtype="<u2", offset=256 * 4)
    assert len(tokens) == header[2], (len(tokens), header[2])
    return tokens.astype(np.int64)


def load_model(path):
    with h5py.File(path, "r") as f:
        cfg = {k: int(v) for k, v in f["config"].attrs.items()}
        weights = {}
        f["model"].visititems(
            lambda n, o: weights.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    model = ref.GPT(**cfg).double()
    names = [n for n, _ in model.named_parameters()]
    assert sorted(names) == sorted(weights), (names, sorted(weights))
    with torch.no_grad():
        for n, p in model.named_parameters():
            w = weights[n]
            assert w.dtype == np.float32 and w.shape == tuple(p.shape), (n, w.dtype, w.shape)
            p.copy_(torch.from_numpy(w.astype(np.float64)))
    # the LM head must share storage with wte so both paths land in one gradient
    assert model.lm_head.weight is model.transformer.wte.weight
    return model, cfg, weights


# ----------------------------------------------------------------------------
# Exact Gauss-Newton diagonal
# ----------------------------------------------------------------------------
def logit_jacobian(model, x):
    """Returns p [N,V] and J [N,V,P] with J[i,v] = d z_i[v] / d theta (flat)."""
    params = [p for _, p in model.named_parameters()]
    z = model(x)[0].reshape(N, -1)
    V = z.shape[1]
    P = sum(p.numel() for p in params)
    J = torch.empty(N, V, P, dtype=torch.float64)
    for i in range(N):
        for v in range(V):
            grads = torch.autograd.grad(z[i, v], params, retain_graph=True)
            J[i, v] = torch.cat([g.reshape(-1) for g in grads])
    p = torch.softmax(z.detach(), dim=-1)
    return z.detach(), p, J


def gn_diag_from_jacobian(p, J):
    """diag(G) = (1/N) sum_i [sum_v p_iv J_iv^2 - (sum_v p_iv J_iv)^2]."""
    gbar = torch.einsum("iv,ivk->ik", p, J)            # J_i^T p_i
    m2 = torch.stack([p[i] @ J[i] ** 2 for i in range(N)])
    return gbar, (m2 - gbar ** 2).sum(0) / N


def fd_check(model, x, p, diag, slices, n_per_tensor=1):
    """Independent check of chosen entries by central differences of the logits."""
    h = 1e-5
    params = dict(model.named_parameters())
    worst = 0.0
    checked = 0
    with torch.no_grad():
        for name in ["transformer.wte.weight", "transformer.wpe.weight",
                     "transformer.h.0.attn.c_attn.weight", "transformer.h.0.ln_1.weight",
                     "transformer.h.1.mlp.c_fc.weight", "transformer.h.1.attn.c_proj.bias",
                     "transformer.ln_f.weight", "transformer.ln_f.bias"]:
            lo, hi = slices[name]
            d = diag[lo:hi]
            flat = params[name].view(-1)
            nz = torch.nonzero(d > 1e-12 * d.max()).reshape(-1)   # skip structural zeros
            mid = int(nz[torch.argsort(d[nz])[len(nz) // 2]])
            for k in [int(d.argmax()), mid][:n_per_tensor + 1]:
                orig = flat[k].item()
                flat[k] = orig + h
                zp = model(x)[0].reshape(N, -1)
                flat[k] = orig - h
                zm = model(x)[0].reshape(N, -1)
                flat[k] = orig
                Jk = (zp - zm) / (2 * h)                  # [N, V]
                gk = ((p * Jk ** 2).sum(1) - (p * Jk).sum(1) ** 2).sum() / N
                rel = abs(gk.item() - d[k].item()) / abs(d[k].item())
                worst = max(worst, rel)
                checked += 1
                assert rel < 1e-6, (name, k, gk.item(), d[k].item())
    return checked, worst


# ----------------------------------------------------------------------------
# Closed-form variance of the estimator X = N * ghat^2 (one label draw)
# ----------------------------------------------------------------------------
def coordinate_variance(p, J, gbar):
    """Var(X_k) for every coordinate k.

    With u_ik = gbar_ik - J[i, yhat_i, k] (independent over i, zero mean,
    variance c_ik), X_k = (1/N) (sum_i u_ik)^2 and
    Var(X_k) = (1/N^2) [sum_i (E u_ik^4 - c_ik^2) + 2 ((sum_i c_ik)^2 - sum_i c_ik^2)].
    """
    c = torch.empty_like(gbar)
    m4 = torch.empty_like(gbar)
    for i in range(N):
        dev = J[i] - gbar[i]
        d2 = dev ** 2
        c[i] = p[i] @ d2
        m4[i] = p[i] @ (d2 ** 2)
    return ((m4 - c ** 2).sum(0) + 2.0 * (c.sum(0) ** 2 - (c ** 2).sum(0))) / N ** 2


def tensor_sum_moments(p, J, lo, hi):
    """Exact mean and variance of X_T = (1/N) ||sum_i u_i||^2 over coordinates lo:hi.

    In vocabulary space u_i = J_i^T w_i with w_i = p_i - e_yhat, Cov(w_i) = H_i.
    With K_ij = J_i J_j^T:  E||sum u||^2 = sum_i tr(H_i K_ii) and
    Var||sum u||^2 = sum_i Var(w_i^T K_ii w_i) + 2 sum_{i!=j} tr(H_i K_ij H_j K_ji).
    """
    V = p.shape[1]
    Jt = J[:, :, lo:hi].reshape(N * V, hi - lo)
    K = (Jt @ Jt.T).reshape(N, V, N, V)
    H = [torch.diag(p[i]) - torch.outer(p[i], p[i]) for i in range(N)]
    mean = 0.0
    var = 0.0
    for i in range(N):
        Kii = K[i, :, i, :]
        Kp = Kii @ p[i]
        a = p[i] @ Kp - 2.0 * Kp + torch.diagonal(Kii)    # a_i(y) for each label y
        ea = (p[i] * a).sum()
        mean += ea.item()
        var += ((p[i] * a ** 2).sum() - ea ** 2).item()
        HK = [H[i] @ K[i, :, j, :] for j in range(N)]
        for j in range(N):
            if j != i:
                var += 2.0 * torch.sum(HK[j] * (H[j] @ K[j, :, i, :]).T).item()
    return mean / N, var / N ** 2


# ----------------------------------------------------------------------------
# Monte Carlo
# ----------------------------------------------------------------------------
def draw_labels(p, S, gen):
    """[S, N] flat row indices i*V + yhat into the [N*V, P] Jacobian."""
    V = p.shape[1]
    y = torch.multinomial(p, S, replacement=True, generator=gen).T   # [S, N]
    return y + torch.arange(N) * V


def ghat_from_labels(Jflat, gtot, idx):
    """ghat = (1/N) sum_i (J_i^T p_i - J_i[yhat_i]) for each row of idx [S, N]."""
    picked = F.embedding_bag(idx, Jflat, mode="sum")                  # [S, P]
    return (gtot - picked) / N


def tensor_sums(X, slices, names):
    return torch.stack([X[..., slices[n][0]:slices[n][1]].sum(-1) for n in names], -1)


def main():
    t0 = time.time()
    outdir = sys.argv[1] if len(sys.argv) > 1 else HERE
    os.makedirs(outdir, exist_ok=True)
    torch.set_grad_enabled(True)

    model, cfg, weights32 = load_model(os.path.join(HERE, "weights.h5"))
    tokens = read_tokens(os.path.join(HERE, "tokens.bin"))
    assert len(tokens) >= N + 1
    t = torch.from_numpy(tokens)
    x = torch.stack([t[b * T: b * T + T] for b in range(B)])
    y_data = torch.stack([t[b * T + 1: b * T + T + 1] for b in range(B)]).reshape(N)

    names = [n for n, _ in model.named_parameters()]
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    slices, off = {}, 0
    for n, p in model.named_parameters():
        slices[n] = (off, off + p.numel())
        off += p.numel()
    P = off

    z, p, J = logit_jacobian(model, x)
    V = p.shape[1]
    t_jac = time.time() - t0
    gbar, diag = gn_diag_from_jacobian(p, J)
    assert torch.all(diag >= -1e-30), diag.min()
    n_fd, fd_worst = fd_check(model, x, p, diag, slices)

    with h5py.File(os.path.join(outdir, "gauss_newton.h5"), "w") as f:
        f.attrs["B"] = int(B)
        f.attrs["T"] = int(T)
        g = f.create_group("gn_diag")
        for n in names:
            lo, hi = slices[n]
            g.create_dataset(n, data=diag[lo:hi].reshape(shapes[n]).numpy().astype(np.float64),
                             track_times=False)

    print(f"B={B} T={T} N={N} V={V} P={P}; Jacobian {t_jac:.1f}s; "
          f"finite-difference check of {n_fd} entries: worst rel {fd_worst:.1e}")
    print(f"softmax p: min {p.min().item():.5f} max {p.max().item():.5f} (uniform {1 / V:.5f}); "
          f"logit std {z.std().item():.4f}")
    zero_wpe = diag[slices["transformer.wpe.weight"][0] + T * cfg["n_embd"]:
                    slices["transformer.wpe.weight"][1]]
    C = cfg["n_embd"]
    kb = [diag[slices[f"transformer.h.{l}.attn.c_attn.bias"][0] + C:
               slices[f"transformer.h.{l}.attn.c_attn.bias"][0] + 2 * C].abs().max().item()
          for l in range(cfg["n_layer"])]
    print(f"structural zeros: wpe rows >= T max {zero_wpe.abs().max().item():.1e}; "
          f"key-bias entries max {max(kb):.1e} (vs median diag {diag.median().item():.2e}, "
          f"max {diag.max().item():.2e})")

    # ---------------- exact moments ----------------
    exact_sum = torch.tensor([diag[slices[n][0]:slices[n][1]].sum().item() for n in names],
                             dtype=torch.float64)
    var_sum = torch.empty(len(names), dtype=torch.float64)
    for a, n in enumerate(names):
        m, v = tensor_sum_moments(p, J, *slices[n])
        assert abs(m - exact_sum[a].item()) <= 1e-10 * exact_sum[a].item(), (n, m, exact_sum[a])
        var_sum[a] = v
    rel_sd1 = var_sum.sqrt() / exact_sum                  # per-tensor, one draw
    var_k = coordinate_variance(p, J, gbar)
    norm_G = diag.norm().item()
    l2_rms1 = (var_k.sum().sqrt() / norm_G).item()        # sqrt(E rel_L2^2) at S = 1
    t_exact = time.time() - t0

    # ---------------- Monte Carlo pool ----------------
    Jflat = J.reshape(N * V, P)
    gtot = gbar.sum(0)
    gen = torch.Generator().manual_seed(MC_SEED)
    n_blocks = MC_POOL // MC_BLOCK
    blocks = torch.empty(n_blocks, P, dtype=torch.float64)   # block means of N*ghat^2
    ghat_block = torch.empty(n_blocks, P, dtype=torch.float64)  # block means of ghat
    per_draw_sums = torch.empty(MC_POOL, len(names), dtype=torch.float64)
    per_draw_l2 = torch.empty(MC_POOL, dtype=torch.float64)
    sumsq = torch.zeros(P, dtype=torch.float64)
    for b in range(n_blocks):
        idx = draw_labels(p, MC_BLOCK, gen)
        gh = ghat_from_labels(Jflat, gtot, idx)
        X = N * gh ** 2
        blocks[b] = X.mean(0)
        ghat_block[b] = gh.mean(0)
        sumsq += ((X - diag) ** 2).sum(0)
        per_draw_sums[b * MC_BLOCK:(b + 1) * MC_BLOCK] = tensor_sums(X, slices, names)
        per_draw_l2[b * MC_BLOCK:(b + 1) * MC_BLOCK] = (X - diag).norm(dim=1) / norm_G
    t_mc = time.time() - t0

    # closed-form variances against the pool
    mc_var_sum = per_draw_sums.var(0)
    ratio_sum = mc_var_sum / var_sum
    ratio_l2 = (sumsq.sum() / MC_POOL) / var_k.sum()
    print(f"MC pool {MC_POOL} draws: variance of per-tensor sums / closed form: "
          f"{ratio_sum.min().item():.3f} .. {ratio_sum.max().item():.3f}; "
          f"sum_k Var(X_k) MC / closed form {ratio_l2.item():.3f}")
    assert torch.all((ratio_sum > 0.85) & (ratio_sum < 1.15)), ratio_sum
    assert 0.9 < ratio_l2.item() < 1.1, ratio_l2

    # ---------------- self-check with 4000 draws ----------------
    nb = SELF_CHECK_S // MC_BLOCK
    est = blocks[:nb].mean(0)
    est_sum = tensor_sums(est, slices, names)
    rel_sum = (est_sum - exact_sum) / exact_sum
    print(f"\nSelf-check S={SELF_CHECK_S}: per-tensor sum relative error max "
          f"{rel_sum.abs().max().item():.4f} (assert < 0.05); in sigmas max "
          f"{(rel_sum.abs() / (rel_sd1 / SELF_CHECK_S ** 0.5)).max().item():.2f}")
    assert rel_sum.abs().max().item() < 0.05, rel_sum
    rel_l2 = ((est - diag).norm() / norm_G).item()
    print(f"  relative L2 error {rel_l2:.4f} (closed-form rms {l2_rms1 / SELF_CHECK_S ** 0.5:.4f})")
    big = diag > 1e-3 * diag.max()
    rel_k = ((est - diag).abs() / diag)[big]
    rel_k_sd = (var_k.sqrt() / diag)[big] / SELF_CHECK_S ** 0.5
    q = torch.quantile(rel_k, torch.tensor([0.5, 0.9, 0.99, 1.0], dtype=torch.float64))
    print(f"  per-coordinate |rel err| over {int(big.sum())} coords with G > 1e-3 max(G): "
          f"median {q[0]:.3f} p90 {q[1]:.3f} p99 {q[2]:.3f} max {q[3]:.3f}; "
          f"closed-form rel sd median {rel_k_sd.median().item():.3f} max {rel_k_sd.max().item():.3f}")
    zk = ((est - diag).abs() / (var_k.sqrt() / SELF_CHECK_S ** 0.5))[big]
    print(f"  per-coordinate |err|/sd: max {zk.max().item():.2f} (over {int(big.sum())} coords)")

    # ---------------- per-tensor detail ----------------
    print("\nPer tensor: exact sum, relative sd of the sum for one draw (closed form), "
          "skewness of one draw (MC)")
    skew = ((per_draw_sums - per_draw_sums.mean(0)) ** 3).mean(0) / mc_var_sum ** 1.5
    for a, n in enumerate(names):
        print(f"  {n:40s} {exact_sum[a].item():.4e}  {rel_sd1[a].item():.3f}  {skew[a].item():.2f}")

    # ---------------- tolerances ----------------
    worst_sd1 = rel_sd1.max().item()
    print(f"\nTolerances: per-tensor sum tol(S) = {Z_SUM:g} * {worst_sd1:.3f} / sqrt(S); "
          f"rel L2 rms(S) = {l2_rms1:.3f} / sqrt(S)")
    print("   S   sum-tol  maxMC|relsum|(blocks)  L2-rms   L2 MC mean/max (blocks)   L2 blocks sd")
    stats = {}
    for S in (500, 1000, 2000, 4000):
        k = S // MC_BLOCK
        m = n_blocks // k
        ests = blocks[:m * k].reshape(m, k, P).mean(1)
        rs = ((tensor_sums(ests, slices, names) - exact_sum) / exact_sum).abs()
        l2 = (ests - diag).norm(dim=1) / norm_G
        tol = Z_SUM * worst_sd1 / S ** 0.5
        stats[S] = (tol, l2)
        print(f"{S:5d}  {tol:.4f}   {rs.max().item():.4f} ({m:2d})            "
              f"{l2_rms1 / S ** 0.5:.4f}   {l2.mean().item():.4f}/{l2.max().item():.4f}"
              f"           {l2.std().item():.4f}")

    # ---------------- incorrect estimators ----------------
    S = SUGGESTED_S
    tol_sum = Z_SUM * worst_sd1 / S ** 0.5
    l2_mean = l2_rms1 / S ** 0.5
    tol_l2 = L2_FACTOR * l2_mean
    k = S // MC_BLOCK
    good = blocks[:k].mean(0)
    good_gh = ghat_block[:k].mean(0)

    def score(vec):
        rs = ((tensor_sums(vec, slices, names) - exact_sum) / exact_sum).abs()
        return rs.max().item(), int((rs > tol_sum).sum()), ((vec - diag).norm() / norm_G).item()

    g_data = ghat_from_labels(Jflat, gtot, (y_data + torch.arange(N) * V).unsqueeze(0))[0]
    g_argmax = ghat_from_labels(Jflat, gtot, (p.argmax(1) + torch.arange(N) * V).unsqueeze(0))[0]
    # expectation when labels are drawn uniformly instead of from the model
    u = torch.full((V,), 1.0 / V, dtype=torch.float64)
    gu = torch.einsum("v,ivk->ik", u, J)
    m2u = torch.stack([u @ J[i] ** 2 for i in range(N)])
    e_uniform = (m2u + gbar ** 2 - 2.0 * gbar * gu).sum(0) / N
    # the same with S labels actually drawn uniformly
    sampled_uniform = torch.zeros(P, dtype=torch.float64)
    for _ in range(S // MC_BLOCK):
        idx = draw_labels(torch.full_like(p, 1.0 / V), MC_BLOCK, gen)
        sampled_uniform += (N * ghat_from_labels(Jflat, gtot, idx) ** 2).sum(0)
    sampled_uniform /= S
    variants = [
        ("correct (S=%d)" % S, good),
        ("data labels (N*g_data^2)", N * g_data ** 2),
        ("argmax labels", N * g_argmax ** 2),
        ("one frozen sampled label set", None),
        ("missing factor N", good / N),
        ("sum loss (factor N^2 too big)", good * N ** 2),
        ("factor 2 too big", good * 2),
        ("factor 2 too small", good / 2),
        ("square of the sample mean", N * good_gh ** 2),
        ("uniform labels (expectation)", e_uniform),
        ("uniform labels (S draws)", sampled_uniform),
    ]
    print(f"\nS={S}: per-tensor sum tol {tol_sum:.4f}, rel L2 tol {tol_l2:.4f} "
          f"({L2_FACTOR:g} x rms {l2_mean:.4f})")
    print("  variant                          max|relsum|  #tensors>tol  relL2    fails?")
    for name, vec in variants:
        if vec is None:
            rs = ((per_draw_sums - exact_sum) / exact_sum).abs()
            fail_sum = (rs > tol_sum).any(1)
            fail_l2 = per_draw_l2 > tol_l2
            print(f"  {name:32s} pool of {MC_POOL}: fraction passing sum test "
                  f"{1 - fail_sum.double().mean().item():.4f}, L2 test "
                  f"{1 - fail_l2.double().mean().item():.4f}; min relL2 {per_draw_l2.min().item():.3f}, "
                  f"min max|relsum| {rs.max(1).values.min().item():.3f}")
            continue
        mx, cnt, l2 = score(vec)
        fails = (cnt > 0) or (l2 > tol_l2)
        print(f"  {name:32s} {mx:10.4f}   {cnt:4d}          {l2:.4f}   {'FAIL' if fails else 'pass'}")
        if name.startswith("correct"):
            assert not fails
    print("  (per-position squaring, (1/N) sum_i u_i^2, has expectation diag(G): unbiased, not a bug)")

    sz = os.path.getsize(os.path.join(outdir, "gauss_newton.h5"))
    print(f"\nwrote {os.path.join(outdir, 'gauss_newton.h5')} ({sz} bytes); "
          f"exact part {t_exact:.1f}s, MC done {t_mc:.1f}s, total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
