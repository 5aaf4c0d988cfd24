#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzing harnesses into tests/fuzz/corpus/:
small valid inputs of every reader, made by the program itself where it
writes the format (weights and checkpoints of a 4-channel model).
Usage: make_seeds.py SOPHIA_KOKKOS (run from the repository root)"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

exe = os.path.abspath(sys.argv[1])
root = os.path.join("tests", "fuzz", "corpus")


def seed(kind, name, data):
    os.makedirs(os.path.join(root, kind), exist_ok=True)
    with open(os.path.join(root, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def token_file(tokens, magic=20240520, version=1):
    header = [magic, version, len(tokens)] + [0] * 253
    return struct.pack("<256i", *header) + struct.pack(f"<{len(tokens)}H", *tokens)


seed("tokens", "ten", token_file(list(range(10))))
seed("tokens", "empty", token_file([]))
for name in sorted(os.listdir("configs")):
    seed("deck", name, open(os.path.join("configs", name)).read())
seed("deck", "sets", "[train]\nsteps = 10\nbatch_size = 2\n[optimizer]\ntype = \"adamw\"\nlr = 1e-3\n")
seed("tokenizer", "text", "Hello world! It's 2026, isn't it?\n\tTabs,   spaces and ünïcödé 🙂.")
seed("tokenizer", "bytes", bytes(range(256)))
seed("cli", "options", b"--batch\x008\x00--rate\x000.25\x00--name\x00x\x00--flag")
seed("cli", "sets", b"--set\x00train.steps=5\x00--set\x00optimizer.lr=1e-3\x00--set\x00parallel.zero1=true")

# Weights and a checkpoint of a model with 4 channels, from a 2-step run.
with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "tokens.bin")
    with open(data, "wb") as f:
        f.write(token_file([i % 8 for i in range(64)]))
    out = os.path.join(tmp, "run")
    sets = ["model.vocab_size=8", "model.block_size=4", "model.n_layer=1", "model.n_head=1", "model.n_embd=4",
            "train.seq_len=4", "train.batch_size=2", "train.steps=2", "checkpoint.interval=2", f"data.train_data={data}",
            "data.val_data=", f"output.dir={out}"]
    for optimizer in ("sophiag", "adamw"):
        shutil.rmtree(out, ignore_errors=True)
        cmd = [exe, "train"] + [a for s in sets + [f"optimizer.type={optimizer}"] for a in ("--set", s)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        os.makedirs(os.path.join(root, "checkpoint"), exist_ok=True)
        shutil.copy(os.path.join(out, "ckpt_00000002.h5"), os.path.join(root, "checkpoint", optimizer + ".h5"))
    os.makedirs(os.path.join(root, "weights"), exist_ok=True)
    shutil.copy(os.path.join(out, "final.h5"), os.path.join(root, "weights", "final.h5"))
    # The same weights as a Hugging Face checkpoint, as export writes it.
    subprocess.run([exe, "export", "--weights", os.path.join(out, "final.h5"), "--out", os.path.join(tmp, "hf")],
                   check=True, stdout=subprocess.DEVNULL)
    os.makedirs(os.path.join(root, "safetensors"), exist_ok=True)
    shutil.copy(os.path.join(tmp, "hf", "model.safetensors"), os.path.join(root, "safetensors", "export.safetensors"))


def safetensors(tensors, metadata):
    """tensors: (name, dtype, shape, raw bytes), stored in that order."""
    header, data = {"__metadata__": metadata}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


# The three dtypes, a scalar and an empty tensor.
seed("safetensors", "dtypes", safetensors([("a", "F16", [2], b"\x00\x3c\x00\xc0"),
                                           ("b", "BF16", [1, 2], b"\x80\x3f\x00\x40"),
                                           ("c", "F32", [], struct.pack("<f", 0.5)),
                                           ("d", "F32", [0, 3], b"")], {"format": "pt"}))
print("seeds:", {k: sorted(os.listdir(os.path.join(root, k))) for k in sorted(os.listdir(root))})
