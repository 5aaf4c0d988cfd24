#!/usr/bin/env python3
"""Writes the inputs that the command-line tests feed to sophia-kokkos: one
good token file and one malformed file for each error case. Usage: make_bad_inputs.py REFERENCE_DIR OUTDIR"""
import json
import os
import shutil
import struct
import sys

import h5py
import numpy as np

ref, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def token_file(name, tokens, count=None, magic=20240520, version=1, cut=0):
    header = [magic, version, len(tokens) if count is None else count] + [0] * 253
    data = struct.pack("<256i", *header) + np.asarray(tokens, dtype="<u2").tobytes()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data[: len(data) - cut])


def weights_copy(name, edit):
    path = os.path.join(out, name)
    shutil.copy(os.path.join(ref, "weights.h5"), path)
    with h5py.File(path, "r+") as f:
        edit(f)


rng = np.random.RandomState(0)
good = rng.randint(0, 97, size=100)
token_file("bad_magic.bin", good, magic=12345)
token_file("truncated.bin", good, cut=7)  # header promises 100 tokens
token_file("short.bin", good[:10])  # too few for the test batch
big = good.copy()
big[20] = 97  # the reference model's vocab_size is 97
token_file("big_id.bin", big)
token_file("good.bin", good)
with open(os.path.join(out, "not_hdf5.h5"), "w") as f:
    f.write("this is not an HDF5 file\n")


def drop_tensor(f):
    del f["model/transformer.h.1.mlp.c_fc.bias"]


def reshape_tensor(f):
    del f["model/transformer.h.0.attn.c_proj.weight"]
    f["model/transformer.h.0.attn.c_proj.weight"] = np.zeros((30, 31), dtype=np.float32)


def bad_heads(f):
    f["config"].attrs["n_head"] = 7  # 30 is not divisible by 7


weights_copy("missing_tensor.h5", drop_tensor)
weights_copy("wrong_shape.h5", reshape_tensor)
weights_copy("bad_heads.h5", bad_heads)

# For `train` (with the reference model's shape): an empty shard, a deck that
# does not parse, weights that are not finite or make the loss NaN, and an earlier run's output
# that a failed run must leave alone.
token_file("empty.bin", [])
token_file("small_vocab.bin", [i % 8 for i in range(40)])  # for the 8-token models of tests/fuzz/regressions
with open(os.path.join(out, "bad_syntax.toml"), "w") as f:
    f.write("[train]\nsteps = = 3\n")
weights_copy("nan_weights.h5", lambda f: f["model/transformer.ln_f.bias"].__setitem__(3, np.nan))
weights_copy("inf_weights.h5", lambda f: f["model/transformer.wpe.weight"].__setitem__((1, 2), -np.inf))
weights_copy("huge_weights.h5", lambda f: f["model/transformer.wte.weight"].__setitem__(slice(None), 3e38))
# Finite weights whose activations overflow float32: ln_f's gain.
weights_copy("ln_f_overflow.h5", lambda f: f["model/transformer.ln_f.weight"].__setitem__(slice(None), 3e38))
# A shape of valid-looking sizes that no machine holds (about 2e5 GB): refused by
# the memory estimate before the tensors are read.
weights_copy("huge_shape.h5", lambda f: f["config"].attrs.update({"n_embd": 65536, "n_layer": 1000, "n_head": 8}))
os.makedirs(os.path.join(out, "earlier_run"), exist_ok=True)
with open(os.path.join(out, "earlier_run", "final.h5"), "w") as f:
    f.write("weights of an earlier run\n")


# Outputs that would replace an input, outputs in the way, and files a reader
# must name instead of passing on the C++ library's text (docs/robustness.md).
def hf_checkpoint(folder):
    """The reference weights as a Hugging Face checkpoint (Conv1D weights stored [in, out])."""
    os.makedirs(folder, exist_ok=True)
    header, data = {"__metadata__": {"format": "pt"}}, b""
    with h5py.File(os.path.join(ref, "weights.h5"), "r") as f:
        config = {k: int(v) for k, v in f["config"].attrs.items()}
        for name, d in f["model"].items():
            a = d[...].astype("<f4")
            if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
                a = np.ascontiguousarray(a.T)
            header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [len(data), len(data) + a.nbytes]}
            data += a.tobytes()
    text = json.dumps(header).encode()
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    config["n_positions"] = config.pop("block_size")
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)


hf_checkpoint(os.path.join(out, "hf"))
shutil.rmtree(os.path.join(out, "hf_model_is_folder"), ignore_errors=True)  # made again on every run
hf_checkpoint(os.path.join(out, "hf_model_is_folder"))
os.remove(os.path.join(out, "hf_model_is_folder", "model.safetensors"))
os.makedirs(os.path.join(out, "hf_model_is_folder", "model.safetensors"))
os.makedirs(os.path.join(out, "export_config_is_folder", "config.json"), exist_ok=True)
with open(os.path.join(out, "export_config_is_folder", "model.safetensors"), "w") as f:
    f.write("an earlier export\n")
hf_checkpoint(os.path.join(out, "hf_number_overflow"))
with open(os.path.join(out, "hf_number_overflow", "config.json"), "w") as f:
    f.write('{"n_embd": 1e999}\n')  # beyond double's range
os.makedirs(os.path.join(out, "hf_empty"), exist_ok=True)
shutil.copy(os.path.join(ref, "weights.h5"), os.path.join(out, "own_weights.h5"))
os.makedirs(os.path.join(out, "shards"), exist_ok=True)
shutil.copy(os.path.join(out, "good.bin"), os.path.join(out, "shards", "train_000000.bin"))
os.makedirs(os.path.join(out, "bad_tokenizer"), exist_ok=True)
with open(os.path.join(out, "bad_tokenizer", "encoder.json"), "w") as f:
    f.write('{"!": 0,\n "\\"": x}\n')
with open(os.path.join(out, "bad_tokenizer", "vocab.bpe"), "w") as f:
    f.write("#version: 0.2\n")
# A finished run without checkpoints, which no other run may overwrite.
os.makedirs(os.path.join(out, "finished_run"), exist_ok=True)
with open(os.path.join(out, "finished_run", "metrics.jsonl"), "w") as f:
    f.write('{"type": "step", "step": 0, "loss": 4.5}\n')
with open(os.path.join(out, "finished_run", "final.h5"), "w") as f:
    f.write("weights of a finished run\n")

# A run whose --init-from is the final.h5 its own output.dir would replace.
os.makedirs(os.path.join(out, "init_in_output"), exist_ok=True)
shutil.copy(os.path.join(ref, "weights.h5"), os.path.join(out, "init_in_output", "final.h5"))

# Prompt files that are not text to continue.
with open(os.path.join(out, "not_utf8.txt"), "wb") as f:
    f.write(b"caf\xe9 au lait\n")
open(os.path.join(out, "empty.txt"), "w").close()


# hvp directions: the reference gradients (/grad of expected.h5, the gradient
# file layout), each damaged in one way.
def direction_copy(name, edit):
    path = os.path.join(out, name)
    shutil.copy(os.path.join(ref, "expected.h5"), path)
    with h5py.File(path, "r+") as f:
        edit(f)


def rename_tensor(f):
    f.move("grad/transformer.wpe.weight", "grad/transformer.wpe.weights")


def extra_tensor(f):
    f["grad/transformer.h.2.ln_1.weight"] = np.ones(30)


def transpose_tensor(f):
    a = f["grad/transformer.h.1.mlp.c_fc.weight"][...]
    del f["grad/transformer.h.1.mlp.c_fc.weight"]
    f["grad/transformer.h.1.mlp.c_fc.weight"] = a.T


direction_copy("direction_renamed.h5", rename_tensor)
direction_copy("direction_extra.h5", extra_tensor)
direction_copy("direction_shape.h5", transpose_tensor)
direction_copy("direction_nan.h5", lambda f: f["grad/transformer.h.0.attn.c_attn.bias"].__setitem__(5, np.nan))
direction_copy("direction_inf.h5", lambda f: f["grad/transformer.wte.weight"].__setitem__((2, 3), -np.inf))
