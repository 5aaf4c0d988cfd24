#!/usr/bin/env python3
"""`grad --init --save-weights` writes GPT-2's initialisation in the weights
format, and `grad --weights` on that file reproduces the same loss and
gradients bit for bit. Usage: check_init_roundtrip.py TOKENS.bin WORKDIR -- SOPHIA_KOKKOS"""
import math
import os
import subprocess
import sys

import h5py
import numpy as np

tokens, work, sep, exe = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
assert sep == "--", __doc__
os.makedirs(work, exist_ok=True)
weights, g_init, g_load = (os.path.join(work, n) for n in ("init.h5", "g_init.h5", "g_load.h5"))
common = ["--data", tokens, "--batch", "2", "--seq", "16"]
n_layer = 3
subprocess.run(exe + ["grad", "--init", "--model", "tiny", "--n-layer", str(n_layer), "--seed", "5",
                      "--save-weights", weights, "--out", g_init] + common, check=True, timeout=300)
subprocess.run(exe + ["grad", "--weights", weights, "--out", g_load] + common, check=True, timeout=300)

with h5py.File(weights, "r") as w:
    cfg = dict(w["config"].attrs)
    assert cfg == {"vocab_size": 50257, "block_size": 64, "n_layer": n_layer, "n_head": 4, "n_embd": 64}, cfg
    m = w["model"]
    assert m["transformer.wte.weight"].shape == (50257, 64)  # unpadded in the file
    assert m["transformer.wte.weight"].dtype == np.float32
    std = float(np.std(m["transformer.wte.weight"][...]))
    assert abs(std - 0.02) < 0.0005, std
    proj = float(np.std(m["transformer.h.0.mlp.c_proj.weight"][...]))
    assert abs(proj - 0.02 / math.sqrt(2 * n_layer)) < 0.0005, proj
    assert not np.any(m["transformer.h.1.attn.c_attn.bias"][...])
    assert np.all(m["transformer.ln_f.weight"][...] == 1)

with h5py.File(g_init, "r") as a, h5py.File(g_load, "r") as b:
    loss = float(a["loss"][()])
    assert loss == b["loss"][()]
    # An untrained model predicts roughly uniformly over the vocabulary.
    assert abs(loss - math.log(50257)) < 0.5, loss
    for name in a["grad"]:
        assert np.array_equal(a["grad"][name][...], b["grad"][name][...]), name
print(f"ok: loss {loss:.6f} from the initialisation and from its saved weights")
