#!/usr/bin/env python3
"""`export` of a model with GPT-2's vocabulary writes the tokenizer files that
save_pretrained writes, so the folder is whole: vocab.json and merges.txt hold
the tokenizer's data (as JSON, and byte for byte), the configuration files name
<|endoftext|>, and our own reader reads the folder back as a tokenizer: `prepare`
with --tokenizer pointing at it writes the same shards. A missing tokenizer is
refused before anything is written.
Usage: check_export_tokenizer.py TOKENIZER_DIR TOKENS.bin WORKDIR -- SOPHIA_KOKKOS"""
import filecmp
import json
import os
import shutil
import subprocess
import sys

tokenizer, tokens, work, sep, exe = sys.argv[1:6]
assert sep == "--", __doc__
if not os.path.isfile(os.path.join(tokenizer, "encoder.json")):
    print(f"skipped: no GPT-2 vocabulary in {tokenizer} (run scripts/fetch_data.sh)")
    sys.exit(77)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def run(*args, expect=0):
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == expect, f"{' '.join(args)}: exit {p.returncode}, expected {expect}\n{p.stdout}{p.stderr}"
    return p


weights = os.path.join(work, "init.h5")
run("grad", "--init", "--model", "tiny", "--n-layer", "1", "--save-weights", weights, "--out",
    os.path.join(work, "grad.h5"), "--data", tokens, "--batch", "1", "--seq", "8")
out = os.path.join(work, "hf")
run("export", "--weights", weights, "--out", out, "--tokenizer", tokenizer)
assert json.load(open(os.path.join(out, "vocab.json"))) == json.load(open(os.path.join(tokenizer, "encoder.json")))
assert filecmp.cmp(os.path.join(out, "merges.txt"), os.path.join(tokenizer, "vocab.bpe"), shallow=False)
config = json.load(open(os.path.join(out, "config.json")))
tok_config = json.load(open(os.path.join(out, "tokenizer_config.json")))
assert tok_config["tokenizer_class"] == "GPT2Tokenizer" and tok_config["model_max_length"] == config["n_positions"]
special = json.load(open(os.path.join(out, "special_tokens_map.json")))
assert special == {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
assert all(tok_config[k] == v for k, v in special.items()), tok_config
assert json.load(open(os.path.join(out, "generation_config.json"))) == {"bos_token_id": 50256, "eos_token_id": 50256}
print("ok: export wrote vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json, generation_config.json")

# Our reader on the exported folder tokenizes as on the original.
text = os.path.join(work, "text.txt")
with open(text, "w", encoding="utf-8") as f:
    f.write("The exported tokenizer reads back: caf\u00e9s, 2026, it's <|endoftext|> done.\n" * 20)
for name, folder in (("original", tokenizer), ("exported", out)):
    run("prepare", "--input", text, "--out", os.path.join(work, name), "--val-fraction", "0", "--tokenizer", folder)
assert filecmp.cmp(os.path.join(work, "original", "train_000000.bin"), os.path.join(work, "exported", "train_000000.bin"),
                   shallow=False)
print("ok: prepare with the exported folder as tokenizer writes the same tokens")

# A missing tokenizer: refused, nothing written.
refused = os.path.join(work, "refused")
p = run("export", "--weights", weights, "--out", refused, "--tokenizer", os.path.join(work, "absent"), expect=1)
assert "cannot open tokenizer file" in p.stderr, p.stderr
assert not os.path.exists(os.path.join(refused, "model.safetensors")), os.listdir(refused)
print("ok: export without a tokenizer is refused before writing")
