#!/usr/bin/env python3
"""Runs `sophia-kokkos grad` on the reference weights and tokens with 1 and
with 2 host threads (OMP_NUM_THREADS; the Serial backend ignores it) and
requires the loss and every gradient to have the same bits: the kernels sum in
an order that does not depend on the thread count, which bit-exact restarts
on another node count rely on.
Usage: check_thread_bits.py REFERENCE_DIR OUT_PREFIX -- SOPHIA_KOKKOS"""
import os
import subprocess
import sys

import h5py
import numpy as np

ref, prefix, sep, exe = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
assert sep == "--", __doc__
with h5py.File(f"{ref}/expected.h5", "r") as e:
    B, T = int(e.attrs["B"]), int(e.attrs["T"])

results = []
for threads in (1, 2):
    out = f"{prefix}_{threads}.h5"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="false")
    subprocess.run(exe + ["grad", "--weights", f"{ref}/weights.h5", "--data", f"{ref}/tokens.bin",
                          "--batch", str(B), "--seq", str(T), "--out", out], check=True, timeout=300, env=env)
    with h5py.File(out, "r") as g:
        results.append((g["loss"][()], {k: g["grad"][k][...] for k in g["grad"]}))

(loss1, grads1), (loss2, grads2) = results
assert np.float64(loss1).tobytes() == np.float64(loss2).tobytes(), ("loss differs", loss1, loss2)
differ = [k for k in grads1 if grads1[k].tobytes() != grads2[k].tobytes()]
assert not differ, f"gradients differ between 1 and 2 threads: {differ}"
print(f"ok: loss and {len(grads1)} gradients have the same bits at 1 and 2 threads")
