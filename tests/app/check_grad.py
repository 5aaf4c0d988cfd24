#!/usr/bin/env python3
"""Runs `sophia-kokkos grad` on the reference weights and tokens (optionally
under a launcher such as mpiexec) and compares its HDF5 output with PyTorch's.
Usage: check_grad.py REFERENCE_DIR OUT.h5 -- [LAUNCHER...] SOPHIA_KOKKOS"""
import subprocess
import sys

import h5py
import numpy as np

ref, out, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
assert sep == "--", __doc__
with h5py.File(f"{ref}/expected.h5", "r") as e:
    B, T = int(e.attrs["B"]), int(e.attrs["T"])
    loss_ref = float(e["loss"][()])
    grads_ref = {k: e["grad"][k][...] for k in e["grad"]}

subprocess.run(cmd + ["grad", "--weights", f"{ref}/weights.h5", "--data", f"{ref}/tokens.bin",
                      "--batch", str(B), "--seq", str(T), "--out", out], check=True, timeout=300)

with h5py.File(out, "r") as g:
    # The output carries the model shape, and no tensor beyond the weights'.
    with h5py.File(f"{ref}/weights.h5", "r") as w:
        assert dict(g["config"].attrs) == dict(w["config"].attrs), "config differs from the weights file"
    assert set(g["grad"]) == set(grads_ref), "gradient names differ from the weights' names"
    assert g["loss"].dtype == np.float64 and g["loss"].shape == ()
    loss = float(g["loss"][()])
    # fp32 against a float64 reference (the tolerances of the issue, tightened).
    assert abs(loss - loss_ref) <= 1e-5 * loss_ref, (loss, loss_ref)
    worst = 0.0
    for name, ref_grad in grads_ref.items():
        ours = g["grad"][name]
        assert ours.dtype == np.float32 and ours.shape == ref_grad.shape, name
        err = np.abs(ours[...] - ref_grad).max() / np.abs(ref_grad).max()
        assert err <= 1e-4, f"{name}: relative error {err:.2e}"
        worst = max(worst, err)
print(f"ok: loss {loss:.7f} (reference {loss_ref:.7f}), worst gradient error {worst:.1e}")
