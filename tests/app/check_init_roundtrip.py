#!/usr/bin/env python3
"""`grad --init --save-weights` writes GPT-2's initialisation in the weights
format, and `grad --weights` on that file reproduces the same loss and
gradients bit for bit. The file carries HDF5's metadata checksums: a byte
flipped in a tensor's header is refused by name. Usage: check_init_roundtrip.py TOKENS.bin WORKDIR -- SOPHIA_KOKKOS"""
import math
import os
import shutil
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

# HDF5's 1.10 format (superblock version 2 or later) checksums every piece of
# metadata: a flipped byte anywhere in a tensor's object header is refused by
# name, never read as another shape or type.
name = "model/transformer.h.0.attn.c_proj.weight"
with h5py.File(weights, "r") as w:
    assert w.id.get_create_plist().get_version()[0] >= 2, "weights written without metadata checksums"
    header = h5py.h5o.get_info(w[name].id).addr
damaged, unused = os.path.join(work, "damaged.h5"), os.path.join(work, "unused.h5")
offsets = range(0, 200, 15)
for offset in offsets:
    shutil.copy(weights, damaged)
    with open(damaged, "r+b") as f:
        f.seek(header + offset)
        byte = f.read(1)[0]
        f.seek(header + offset)
        f.write(bytes([byte ^ 0x04]))
    p = subprocess.run(exe + ["grad", "--weights", damaged, "--out", unused] + common, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 1 and f"/{name} cannot be read: its header is damaged" in p.stderr, (offset, p.stderr)
    assert not os.path.exists(unused), offset
print(f"ok: {len(offsets)} single-bit flips in a tensor's header refused by name")
