#!/usr/bin/env python3
"""Runs `sophia-kokkos grad` on the reference weights and tokens (optionally
under a launcher such as mpiexec) and compares its HDF5 output with PyTorch's.
With --bf16, grad runs with bf16 gemm inputs and is held to the bf16 bound
of docs/training.md ("How far bf16 is from float64"), and must also be
farther from the reference than fp32 rounding reaches (else it ran in fp32).
Usage: check_grad.py REFERENCE_DIR OUT.h5 [--bf16] -- [LAUNCHER...] SOPHIA_KOKKOS"""
import math
import subprocess
import sys

import h5py
import numpy as np

ref, out = sys.argv[1], sys.argv[2]
bf16 = sys.argv[3] == "--bf16"
sep, cmd = sys.argv[3 + bf16], sys.argv[4 + bf16:]
assert sep == "--", __doc__
with h5py.File(f"{ref}/expected.h5", "r") as e:
    B, T = int(e.attrs["B"]), int(e.attrs["T"])
    loss_ref = float(e["loss"][()])
    grads_ref = {k: e["grad"][k][...] for k in e["grad"]}

subprocess.run(cmd + ["grad", "--weights", f"{ref}/weights.h5", "--data", f"{ref}/tokens.bin",
                      "--batch", str(B), "--seq", str(T), "--out", out]
               + (["--precision", "bf16"] if bf16 else []), check=True, timeout=300)

# fp32 against a float64 reference: the tolerances of the issue, tightened.
loss_tol, grad_tol, grad_floor = 1e-5, 1e-4, 0.0
if bf16:
    # bf16 keeps 8 significant bits: unit roundoff u = 2^-8. A gemm on rounded
    # inputs errs by at most 2u relative per product; independent roundings
    # add in quadrature along the longest chain of gemms a gradient passes
    # through: forward (4 per block + LM head) and back again.
    with h5py.File(f"{ref}/weights.h5", "r") as w:
        n_layer = int(w["config"].attrs["n_layer"])
    u = 2.0 ** -8
    forward_gemms = 4 * n_layer + 1
    loss_tol = 2 * u * math.sqrt(forward_gemms)
    grad_tol = 2 * u * math.sqrt(2 * forward_gemms)
    grad_floor = 1e-4  # the fp32 bound above: fp32 gemms stay below it (about 1e-6)

with h5py.File(out, "r") as g:
    # The output carries the model shape, and no tensor beyond the weights'.
    with h5py.File(f"{ref}/weights.h5", "r") as w:
        assert dict(g["config"].attrs) == dict(w["config"].attrs), "config differs from the weights file"
    assert set(g["grad"]) == set(grads_ref), "gradient names differ from the weights' names"
    assert g["loss"].dtype == np.float64 and g["loss"].shape == ()
    loss = float(g["loss"][()])
    assert abs(loss - loss_ref) <= loss_tol * loss_ref, (loss, loss_ref, loss_tol)
    worst = 0.0
    for name, ref_grad in grads_ref.items():
        ours = g["grad"][name]
        assert ours.dtype == np.float32 and ours.shape == ref_grad.shape, name
        err = np.abs(ours[...] - ref_grad).max() / np.abs(ref_grad).max()
        assert err <= grad_tol, f"{name}: relative error {err:.2e} above {grad_tol:.2e}"
        worst = max(worst, err)
    assert worst >= grad_floor, f"worst gradient error {worst:.1e}: fp32's, not bf16's"
print(f"ok: loss {loss:.7f} (reference {loss_ref:.7f}), worst gradient error {worst:.1e} (bound {grad_tol:.1e})")
