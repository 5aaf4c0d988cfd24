#!/usr/bin/env python3
"""Text samples during training (train.sample_interval, train.sample_tokens).

A run of the tiny deck that samples every 2 steps is compared with one that
does not: the same losses and final weights, bit for bit, so sampling leaves
training alone. Each sample in metrics.jsonl is what `sample --seed
train.seed` draws from the checkpoint of its step. Runs resumed from the
step-2 and the last checkpoint keep each sample and validation once. A
sample streamed token by token prints what --no-stream prints at the end.
Samples are longer than the model's block_size (16 here): both crop the
context as they go. evaluate --text FILE gives the loss evaluate --data gives
on prepare's shard of FILE. A vocabulary without <|endoftext|>, samples over
the ceiling of new tokens and a missing tokenizer are refused by name.
Exits 77 (skipped) without the GPT-2 vocabulary or the Brown shards.
Usage: check_train_sample.py DECK SHARD_DIR TOKENIZER_DIR WORKDIR -- SOPHIA_KOKKOS"""
import glob
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

deck, shards, tokenizer, work, sep, exe = sys.argv[1:7]
assert sep == "--", __doc__
if not os.path.isfile(os.path.join(tokenizer, "encoder.json")) or not glob.glob(os.path.join(shards, "train_*.bin")):
    print(f"skipped: no GPT-2 vocabulary in {tokenizer} or no shards in {shards}: run scripts/setup.sh")
    sys.exit(77)
shutil.rmtree(work, ignore_errors=True)
env = dict(os.environ, SOPHIA_KOKKOS_TOKENIZER=tokenizer)
SEED, BLOCK, TOKENS = 1337, 16, 24


def train(out, *sets, expect=0, environment=env):
    args = [exe, "train", "--config", deck]
    for s in ("train.steps=4", f"model.block_size={BLOCK}", f"train.seq_len={BLOCK}", f"train.seed={SEED}", "train.eval_interval=2", "checkpoint.interval=2",
              f"data.train_data={shards}/train_*.bin", f"data.val_data={shards}/val_*.bin", f"output.dir={out}",
              *sets):
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600, env=environment)
    assert p.returncode == expect, f"{args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def metrics(out, kind):
    lines = [json.loads(x) for x in open(os.path.join(out, "metrics.jsonl"))]
    return [x for x in lines if x["type"] == kind]


sampled, plain = os.path.join(work, "sampled"), os.path.join(work, "plain")
sampling = ("train.sample_interval=2", f"train.sample_tokens={TOKENS}")
printed = train(sampled, *sampling).stdout
train(plain)

# Sampling leaves training alone.
strip = lambda rows: [{k: v for k, v in r.items() if k in ("step", "loss", "grad_norm")} for r in rows]  # noqa: E731
assert strip(metrics(sampled, "step")) == strip(metrics(plain, "step"))
assert metrics(sampled, "eval") == metrics(plain, "eval")
with h5py.File(os.path.join(sampled, "final.h5")) as a, h5py.File(os.path.join(plain, "final.h5")) as b:
    names = []
    a["model"].visit(lambda n: names.append(n) if isinstance(a["model"][n], h5py.Dataset) else None)
    assert names and all(np.array_equal(a["model"][n][()], b["model"][n][()]) for n in names)
print("ok: a run that samples has the same losses and final weights as one that does not")

# Each sample is what `sample` draws from its step's checkpoint, and is printed.
samples = metrics(sampled, "sample")
assert [s["step"] for s in samples] == [2, 4], samples
for s in samples:
    ckpt = os.path.join(sampled, f"ckpt_{s['step']:08d}.h5")
    p = subprocess.run([exe, "sample", "--weights", ckpt, "--seed", str(SEED), "--tokens", str(TOKENS)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == s["text"] + "\n", (p.stdout, s["text"])  # the document start is not printed
    assert f"step {s['step']} sample:\n{s['text']}\n" in printed, printed
    print(f"ok: step {s['step']} sample = sample --weights {os.path.basename(ckpt)} --seed {SEED}: {s['text'][:50]!r}")

# A prompt from a file or standard input is the same prompt as --prompt.
prompt = "It was a dark and stormy night; the rain fell in torrents \u2014 except"
prompt_path = os.path.join(sampled, "prompt.txt")
with open(prompt_path, "w", encoding="utf-8") as f:
    f.write(prompt)
common = [exe, "sample", "--weights", ckpt, "--seed", str(SEED), "--tokens", str(TOKENS)]
outs = [subprocess.run(common + args, input=prompt, capture_output=True, text=True, timeout=300, env=env)
        for args in (["--prompt", prompt], ["--prompt-file", prompt_path], ["--prompt-file", "-"])]
assert all(p.returncode == 0 for p in outs), [p.stderr for p in outs]
assert outs[0].stdout.startswith(prompt) and outs[1].stdout == outs[0].stdout == outs[2].stdout, outs
print(f"ok: --prompt-file FILE and - give what --prompt gives: {outs[0].stdout[:60]!r}")

# Printed token by token as generated (held back where a token ends inside a
# character), a sample is the text --no-stream prints once it is complete:
# after a text prompt, and after one that ends inside a character (the byte
# tokens of U+2014's first two bytes, 0xE2 0x80, in GPT-2's byte-to-character map).
encoder = json.load(open(os.path.join(tokenizer, "encoder.json"), encoding="utf-8"))
split_prompt = ",".join(str(encoder[c]) for c in ("It", "\u0120was", "\u00e2", "\u0122"))
for seed in range(4):
    for prompt_args in (["--prompt", prompt], ["--prompt-tokens", split_prompt]):
        args = common[:4] + ["--seed", str(seed), "--tokens", "48", "--temperature", "2", *prompt_args]
        streamed, whole = (subprocess.run(args + extra, capture_output=True, timeout=300, env=env)
                           for extra in ([], ["--no-stream"]))
        assert streamed.returncode == whole.returncode == 0, (streamed.stderr, whole.stderr)
        assert streamed.stdout == whole.stdout, (seed, prompt_args[0], streamed.stdout, whole.stdout)
        assert streamed.stdout.startswith(b"It was"), streamed.stdout
print(f"ok: streamed samples = --no-stream's for 4 seeds, after a prompt of text and one cut inside a character")

# evaluate --text FILE is evaluate --data on the shard prepare makes of FILE.
text_path, shard_dir = os.path.join(work, "text.txt"), os.path.join(work, "text_shards")
with open(text_path, "w", encoding="utf-8") as f:
    f.write((prompt + " the bells rang out.\n") * 6)
p = subprocess.run([exe, "prepare", "--input", text_path, "--out", shard_dir, "--val-fraction", "0"],
                   capture_output=True, text=True, timeout=300, env=env)
assert p.returncode == 0, p.stderr
loss = []
for source in (["--text", text_path], ["--data", os.path.join(shard_dir, "train_000000.bin"), "--batches", "all"]):
    p = subprocess.run([exe, "evaluate", "--weights", ckpt, "--batch", "2", "--seq", "16", *source],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    loss.append(p.stdout.split(" from ")[0])
assert loss[0] == loss[1] and loss[0].startswith("loss "), loss
print(f"ok: evaluate --text = evaluate --data on prepare's shard of the same file: {loss[0]}")

# Resumed from step 2, and from the last step's checkpoint: the history holds
# each sample and validation once, as before.
for step in (2, 4):
    train(sampled, *sampling, "checkpoint.resume=" + os.path.join(sampled, f"ckpt_{step:08d}.h5"))
    assert metrics(sampled, "sample") == samples, (step, metrics(sampled, "sample"))
    assert metrics(sampled, "eval") == metrics(plain, "eval"), (step, metrics(sampled, "eval"))
    print(f"ok: resumed from step {step}, metrics.jsonl holds each sample and validation once")

# Refused by name, before training starts.
bad = os.path.join(work, "bad")
for sets, environment, pattern in [
        (("model.vocab_size=1000",), env, "train.sample_interval needs GPT-2's vocabulary"),
        ((f"train.sample_tokens={2**20 + 1}",), env, "train.sample_tokens"),
        ((), dict(env, SOPHIA_KOKKOS_TOKENIZER=os.path.join(work, "nowhere")), "cannot open tokenizer file")]:
    p = train(bad, "train.sample_interval=2", *sets, expect=1, environment=environment)
    assert pattern in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(bad, "metrics.jsonl")), sets
    print(f"ok: refused: {p.stderr.strip()[:110]}")
