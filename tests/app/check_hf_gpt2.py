#!/usr/bin/env python3
"""Hugging Face GPT-2 checkpoints in and out, and `evaluate`.

A small GPT-2 in Hugging Face's layout (Conv1D linear layers stored [in, out],
random weights, its forward written here in PyTorch float64) is written as
model.safetensors by hand (u64 header size, JSON header, raw data) with
config.json. `import` reads it (F32 with bare names, the attention's bias
buffers and a tied lm_head; BF16 and F16 with "transformer." names) and `grad` on the
result matches PyTorch's loss and gradients; `export` writes tensors that read
back identical; `evaluate` on a run's final weights equals the validation loss
the run reported, on 1 and 2 ranks; greedy `sample` continues a prompt as
PyTorch's greedy decoding does, past block_size too (cropped to the last
block_size tokens, as nanoGPT does); a checkpoint serves as weights; malformed
files and sampling options are refused by name.
Usage: check_hf_gpt2.py TOKENS.bin WORKDIR -- MPIEXEC NP_FLAG SOPHIA_KOKKOS"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np
import torch

tokens_file, work, sep, mpiexec, np_flag, exe = sys.argv[1:7]
assert sep == "--", __doc__
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
V, P, L, H, C = 97, 16, 2, 2, 16  # vocab, positions, layers, heads, channels
CONV1D = ("c_attn.weight", "c_proj.weight", "c_fc.weight")  # stored [in, out]: ours transposed
config = {"model_type": "gpt2", "vocab_size": V, "n_positions": P, "n_layer": L, "n_head": H, "n_embd": C,
          "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}


def hf_weights(seed=0):
    """name -> float32 array, in Hugging Face's names and shapes."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, std=0.1: (torch.randn(*s, generator=g) * std).numpy().astype(np.float32)  # noqa: E731
    w = {"wte.weight": r(V, C), "wpe.weight": r(P, C), "ln_f.weight": 1 + r(C), "ln_f.bias": r(C)}
    for i in range(L):
        p = f"h.{i}."
        w.update({p + "ln_1.weight": 1 + r(C), p + "ln_1.bias": r(C), p + "attn.c_attn.weight": r(C, 3 * C),
                  p + "attn.c_attn.bias": r(3 * C), p + "attn.c_proj.weight": r(C, C), p + "attn.c_proj.bias": r(C),
                  p + "ln_2.weight": 1 + r(C), p + "ln_2.bias": r(C), p + "mlp.c_fc.weight": r(C, 4 * C),
                  p + "mlp.c_fc.bias": r(4 * C), p + "mlp.c_proj.weight": r(4 * C, C), p + "mlp.c_proj.bias": r(C)})
    return w


def to_bf16(a):
    """float32 -> (bfloat16 bytes, the float32 values they hold), rounding to nearest even."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded.tobytes(), (rounded.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, edit=None, edit_text=None):
    """tensors: name -> (dtype, shape, raw bytes). edit(header) may change the header, edit_text(text) its JSON."""
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if edit:
        edit(header)
    text = json.dumps(header)
    text = (edit_text(text) if edit_text else text).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name != "__metadata__":
            assert e["dtype"] == "F32", (name, e["dtype"])
            a, b = e["data_offsets"]
            out[name] = np.frombuffer(data[a:b], "<f4").reshape(e["shape"])
    return header.get("__metadata__"), out


def checkpoint(folder, tensors):
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    return folder


def f32(w, prefix=""):
    return {prefix + k: ("F32", v.shape, v.tobytes()) for k, v in w.items()}


def run(*args, expect=0):
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == expect, f"{' '.join(args)}: exit {p.returncode}, expected {expect}\n{p.stderr}"
    return p


def hf_logits(t, idx):
    """Hugging Face's GPT-2 forward (Conv1D: x @ W + b) on float64 tensors t: logits [B, T, V]."""
    B, T = idx.shape
    x = t["wte.weight"][torch.tensor(idx)] + t["wpe.weight"][:T]
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (C,), t[n + ".weight"], t[n + ".bias"], 1e-5)  # noqa: E731
    gelu = lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))  # noqa: E731
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(L):
        p = f"h.{i}."
        qkv = ln(x, p + "ln_1") @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]
        q, k, v = (z.view(B, T, H, C // H).transpose(1, 2) for z in qkv.split(C, dim=2))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        y = torch.softmax(att.masked_fill(~mask, float("-inf")), dim=-1) @ v
        x = x + y.transpose(1, 2).reshape(B, T, C) @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
        h = gelu(ln(x, p + "ln_2") @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"])
        x = x + h @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
    return ln(x, "ln_f") @ t["wte.weight"].T


def hf_loss(w, idx, tgt):
    """Mean cross-entropy of hf_logits, and its gradients."""
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    logits = hf_logits(t, idx)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.tensor(tgt).reshape(-1))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def token_windows(B, T):
    with open(tokens_file, "rb") as f:
        f.seek(256 * 4)
        ids = np.frombuffer(f.read(), "<u2").astype(np.int64)[:B * T + 1]
    return ids[:-1].reshape(B, T), ids[1:].reshape(B, T)


# Import: F32 with bare names, the attention buffers and a tied lm_head.
w = hf_weights()
tensors = f32(w)
tensors["lm_head.weight"] = tensors["wte.weight"]
bias = np.tril(np.ones((P, P), np.float32)).reshape(1, 1, P, P)
for i in range(L):
    tensors[f"h.{i}.attn.bias"] = ("F32", bias.shape, bias.tobytes())
    tensors[f"h.{i}.attn.masked_bias"] = ("F32", (), np.float32(-1e4).tobytes())
plain = checkpoint(os.path.join(work, "hf_f32"), tensors)
imported = os.path.join(work, "imported.h5")
run("import", "--from", plain, "--out", imported)

B, T = 2, 8
idx, tgt = token_windows(B, T)
loss_ref, grads_ref = hf_loss(w, idx, tgt)
g_out = os.path.join(work, "grad.h5")
run("grad", "--weights", imported, "--data", tokens_file, "--batch", str(B), "--seq", str(T), "--out", g_out)
with h5py.File(g_out, "r") as g:
    loss = float(g["loss"][()])
    assert abs(loss - loss_ref) <= 1e-5 * loss_ref, (loss, loss_ref)
    for name, ref in grads_ref.items():
        ours = g["grad"]["transformer." + name][...]
        if name.endswith(CONV1D):
            ours = ours.T  # ours [out, in], Conv1D [in, out]
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        assert err <= 1e-4, f"{name}: relative error {err:.2e}"
print(f"ok: imported F32 checkpoint: loss {loss:.7f} (PyTorch {loss_ref:.7f}), gradients within 1e-4")

# BF16 and F16 with the "transformer." prefix: the values the file holds, exactly.
bf16, held = {}, {}
for i, (k, v) in enumerate(w.items()):
    if i % 2:
        half = v.astype("<f2")
        raw, held[k], dtype = half.tobytes(), half.astype(np.float32), "F16"
    else:
        (raw, held[k]), dtype = to_bf16(v), "BF16"
    bf16["transformer." + k] = (dtype, v.shape, raw)
run("import", "--from", checkpoint(os.path.join(work, "hf_bf16"), bf16), "--out", os.path.join(work, "bf16.h5"))
with h5py.File(os.path.join(work, "bf16.h5"), "r") as f:
    for k, v in held.items():
        ours = f["model"]["transformer." + k][...]
        assert np.array_equal(ours.T if k.endswith(CONV1D) else ours, v), k
print("ok: imported BF16 and F16 checkpoint with transformer. names: every value exact")

# Export: the tensors read back identical, in HF's names and shapes, with a
# config that transformers reads.
exported = os.path.join(work, "exported")
run("export", "--weights", imported, "--out", exported)
meta, back = read_safetensors(os.path.join(exported, "model.safetensors"))
assert meta == {"format": "pt"}, meta
assert set(back) == {"transformer." + k for k in w}, sorted(set(back) ^ {"transformer." + k for k in w})
for k, v in w.items():
    assert np.array_equal(back["transformer." + k], v), k
cfg = json.load(open(os.path.join(exported, "config.json")))
assert {k: cfg[k] for k in ("vocab_size", "n_positions", "n_layer", "n_head", "n_embd")} == \
    {"vocab_size": V, "n_positions": P, "n_layer": L, "n_head": H, "n_embd": C}, cfg
assert cfg["model_type"] == "gpt2" and cfg["architectures"] == ["GPT2LMHeadModel"], cfg
# A vocabulary of 97 tokens is not GPT-2's: no tokenizer files (tests/app/check_export_tokenizer.py).
assert sorted(os.listdir(exported)) == ["config.json", "model.safetensors"], os.listdir(exported)
print("ok: export -> every tensor identical to the imported checkpoint's")

# Evaluate equals the validation loss that train reports for the same weights and windows.
run_dir = os.path.join(work, "run")
sets = [f"model.vocab_size={V}", f"model.block_size={P}", f"model.n_layer={L}", f"model.n_head={H}",
        f"model.n_embd={C}", "train.steps=2", "train.batch_size=2", f"train.seq_len={T}", "train.eval_batches=2",
        f"data.train_data={tokens_file}", f"data.val_data={tokens_file}", f"output.dir={run_dir}",
        "checkpoint.interval=2"]
run("train", *[a for s in sets for a in ("--set", s)], "--init-from", imported)
val = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
val = [r["val_loss"] for r in val if r["type"] == "eval" and r["step"] == 2][0]
evaluate = ["evaluate", "--weights", os.path.join(run_dir, "final.h5"), "--data", tokens_file, "--batch", "2",
            "--batches", "2", "--seq", str(T)]
for ranks in (1, 2):
    launcher = [mpiexec, np_flag, "2"] if ranks == 2 else []
    p = subprocess.run(launcher + [exe] + evaluate, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = [x for x in p.stdout.splitlines() if x.startswith("loss ")]
    assert len(lines) == 1, p.stdout  # rank 0 alone prints
    loss = float(lines[0].split()[1])
    assert abs(loss - val) <= 1.5e-6, (ranks, loss, val)
    assert abs(float(lines[0].split()[4]) - math.exp(loss)) <= 1e-3 * math.exp(loss), lines[0]
print(f"ok: evaluate on final.h5 = the run's last validation loss ({val:.6f}), on 1 and 2 ranks")

# --batches all: every whole micro-batch of the data, as if counted by hand.
with open(tokens_file, "rb") as f:
    count = struct.unpack("<3i", f.read(12))[2]  # llm.c header: magic, version, token count
windows = (count - 1) // T  # windows of T+1 tokens overlapping by one (io/shards.hpp)
every = [a if a != "2" or evaluate[i - 1] != "--batches" else str(windows // 2) for i, a in enumerate(evaluate)]
counted = subprocess.run([exe] + every, capture_output=True, text=True, timeout=300)
whole = subprocess.run([exe] + evaluate[:-4] + ["--batches", "all", "--seq", str(T)], capture_output=True, text=True,
                       timeout=300)
assert counted.returncode == 0 and whole.returncode == 0, (counted.stderr, whole.stderr)
assert whole.stdout == counted.stdout, (whole.stdout, counted.stdout)
print(f"ok: evaluate --batches all = --batches {windows // 2}: {whole.stdout.strip()}")


# Greedy sampling equals PyTorch's greedy continuation, token for token, also
# past block_size, where nanoGPT conditions on the last block_size tokens.
def greedy(prompt, n):
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in w.items()}
    ids, margin = list(prompt), math.inf
    for _ in range(n):
        last = hf_logits(t, np.array([ids[-P:]]))[0, -1]
        top2 = torch.topk(last, 2).values
        margin = min(margin, (top2[0] - top2[1]).item())
        ids.append(int(torch.argmax(last)))
    return ids[len(prompt):], margin


for prompt, n in (([5, 17, 42, 8], P + 1 - 4), ([5, 17, 42, 8], 2 * P + 5), ([(7 * i) % V for i in range(P + 5)], 20)):
    expected, margin = greedy(prompt, n)
    # float32 logits differ from float64 by about 1e-6 here: a closer call could flip.
    assert margin > 1e-4, f"the reference's top two logits come within {margin}: pick another prompt"
    sample = ["sample", "--weights", imported, "--prompt-tokens", ",".join(map(str, prompt)), "--tokens",
              str(len(expected)), "--top-k", "1", "--ids", "--no-stop"]
    for extra in ([], ["--count", "2"], ["--no-kv-cache"]):
        lines = run(*sample, *extra).stdout.split("\n")[:-1]
        assert all([int(x) for x in line.split()] == expected for line in lines), (extra, lines, expected)
    print(f"ok: greedy sample = PyTorch's greedy continuation of {len(expected)} tokens after {len(prompt)} "
          f"(block_size {P}; closest top-two margin {margin:.2g}), with the cache, 2 samples side by side, "
          f"and by full forwards")

# A checkpoint serves as weights too: evaluate and sample agree with final.h5 of the same step.
final, ckpt = os.path.join(run_dir, "final.h5"), os.path.join(run_dir, "ckpt_00000002.h5")
for cmd in (evaluate, sample):
    i = cmd.index("--weights") + 1
    outputs = [run(*cmd[:i], f, *cmd[i + 1:]).stdout for f in (final, ckpt)]
    assert outputs[0] == outputs[1], (cmd[0], outputs)
print("ok: evaluate and sample read the step-2 checkpoint as they read final.h5")

# A Hugging Face folder serves as weights as its import does: grad's file and
# the greedy sample are the same; a folder without model.safetensors is refused.
g_hf = os.path.join(work, "grad_hf.h5")
run("grad", "--weights", plain, "--data", tokens_file, "--batch", str(B), "--seq", str(T), "--out", g_hf)
with h5py.File(g_out, "r") as a, h5py.File(g_hf, "r") as b:
    for name in a["grad"]:
        assert np.array_equal(a["grad"][name][...], b["grad"][name][...]), name
    assert a["loss"][()] == b["loss"][()]
assert run(*sample[:1], "--weights", plain, *sample[3:]).stdout == run(*sample).stdout
no_weights = os.path.join(work, "hf_config_only")
os.makedirs(no_weights)
shutil.copy(os.path.join(plain, "config.json"), no_weights)
p = run(*sample[:1], "--weights", no_weights, *sample[3:], expect=1)
assert "model.safetensors" in p.stderr, p.stderr
print("ok: grad and sample read a Hugging Face folder as they read its import; one without weights is refused")

# Bad sampling input: exit 1 for the model's limits, 2 for the command line.
for args, code, pattern in [
        (["--window", "0"], 2, f"--window must be in [1, {P}], got 0"),
        (["--window", str(P + 1)], 2, f"--window must be in [1, {P}], got {P + 1}"),
        (["--prompt-tokens", f"3,{V}"], 1, f"prompt token {V} is outside the model's vocabulary"),
        (["--prompt-tokens", "3,x"], 2, "--prompt-tokens takes token ids separated by commas"),
        (["--top-p", "0"], 2, "--top-p must be in (0, 1], got 0"),
        (["--top-p", "1.5"], 2, "--top-p must be in (0, 1], got 1.5"),
        (["--temperature", "0"], 2, "--temperature must be above 0, got 0"),
        (["--temperature", "-1"], 2, "--temperature must be above 0, got -1")]:
    bad = [*sample[:3], "--prompt-tokens", "5,17,42,8", "--ids", *args]
    p = run(*bad, expect=code)
    assert pattern in p.stderr, (args, p.stderr)
    print(f"ok: sample {' '.join(args)[:40]} refused: {p.stderr.strip()[:100]}")
p = run("sample", "--weights", imported, "--ids", expect=1)  # no prompt: <|endoftext|>, not in this vocabulary
assert "which the model's vocabulary (vocab_size 97) lacks: give --prompt-tokens" in p.stderr, p.stderr
print(f"ok: sample without a prompt on a small vocabulary refused: {p.stderr.strip()[:100]}")
tokenizer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "gpt2")
p = run("sample", "--weights", imported, "--ids", "--prompt", "", "--tokenizer", tokenizer, expect=1)
assert "with an empty prompt, samples start at <|endoftext|>" in p.stderr, p.stderr
print(f"ok: sample with an empty prompt on a small vocabulary refused: {p.stderr.strip()[:100]}")


# Malformed files, each refused with a message that names the problem.
def refused(name, pattern, tensors=tensors, edit=None, damage=None, cfg=None, edit_text=None):
    folder = os.path.join(work, "bad_" + name)
    os.makedirs(folder)
    path = os.path.join(folder, "model.safetensors")
    write_safetensors(path, tensors, edit, edit_text)
    if damage:
        damage(path)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg or config, f)
    p = run("import", "--from", folder, "--out", os.path.join(folder, "out.h5"), expect=1)
    assert pattern in p.stderr, f"{name}: {p.stderr}"
    assert not os.path.exists(os.path.join(folder, "out.h5")), name
    print(f"ok: {name} refused: {p.stderr.strip()[:110]}")


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def huge_header(path):
    with open(path, "r+b") as f:
        f.write(struct.pack("<Q", 1 << 40))


def shift(name, by):
    def edit(h):
        h[name]["data_offsets"] = [o + by for o in h[name]["data_offsets"]]
    return edit


def overlap(h):
    h["h.0.ln_1.bias"]["data_offsets"] = list(h["h.0.ln_1.weight"]["data_offsets"])


def append(extra):
    def damage(path):
        with open(path, "ab") as f:
            f.write(extra)
    return damage


def shift_all(h):  # every tensor 4 bytes on: the data's first 4 bytes belong to none
    for name, e in h.items():
        if name != "__metadata__":
            e["data_offsets"] = [o + 4 for o in e["data_offsets"]]


def retype(h):
    h["ln_f.bias"]["dtype"] = "I32"


missing = {k: v for k, v in tensors.items() if k != "ln_f.bias"}
reshaped = dict(tensors, **{"wpe.weight": ("F32", (P // 2, 2 * C), w["wpe.weight"].tobytes())})
untied = dict(tensors, **{"lm_head.weight": ("F32", (V, C), (2 * w["wte.weight"]).tobytes())})
extra = dict(tensors, **{"score.weight": ("F32", (C,), w["ln_f.bias"].tobytes())})
refused("truncated", "lie outside the file's", damage=truncate)
refused("header_size_beyond_file", "header size 1099511627776 goes beyond the file", damage=huge_header)
refused("offsets_out_of_range", "tensor ln_f.bias: data_offsets", edit=shift("ln_f.bias", 1 << 30))
refused("overlapping", "overlap", edit=overlap)
refused("unknown_dtype", "tensor ln_f.bias: dtype I32 is not supported", edit=retype)
refused("tensor_missing", "tensor ln_f.bias is missing", tensors=missing)
refused("wrong_shape", f"tensor wpe.weight has shape [{P // 2}, {2 * C}], expected [{P}, {C}]", tensors=reshaped)
refused("untied_head", "lm_head.weight differs from wte.weight", tensors=untied)
refused("unknown_tensor", "tensor score.weight is not part of GPT-2", tensors=extra)
# The format's rules (safetensors): a name once, metadata of strings, the data covered exactly.
refused("duplicate_tensor", 'key "ln_f.bias" appears twice', edit_text=lambda t: t.replace('"ln_f.weight"', '"ln_f.bias"'))
refused("trailing_bytes", "8 bytes after the last tensor belong to no tensor", damage=append(bytes(8)))
refused("gap", "bytes 0 to 4 of the data, before tensor", edit=shift_all, damage=append(bytes(4)))
refused("metadata_not_strings", "__metadata__ is not an object of strings",
        edit=lambda h: h.__setitem__("__metadata__", {"format": 1}))
refused("count_beyond_uint64", "n_embd 18446744073709551615 is out of range", cfg=dict(config, n_embd=2**64 - 1))
refused("count_zero", "n_layer 0 is out of range", cfg=dict(config, n_layer=0))
refused("count_not_integer", "n_head is not an integer", cfg=dict(config, n_head=3.5))
refused("other_activation", "activation_function \"relu\" is not supported", cfg=dict(config, activation_function="relu"))
