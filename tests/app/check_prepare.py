#!/usr/bin/env python3
"""Runs `sophia-kokkos prepare` on small documents and checks its shards: llm.c
headers, shard sizes, <|endoftext|> before each document, the documents' text
when decoded, and which documents go to validation. Exits 77 (skipped) when
TOKENIZER_DIR has no vocabulary.
Usage: check_prepare.py TOKENIZER_DIR -- COMMAND [ARGS...]"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys

tokenizer, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
assert sep == "--", __doc__
EOT = 50256
SHARD = 16

if not os.path.isfile(os.path.join(tokenizer, "encoder.json")):
    print(f"skipped: no GPT-2 vocabulary in {tokenizer}: run scripts/fetch_data.sh")
    sys.exit(77)

# GPT-2's byte <-> printable character table, to decode ids to bytes.
printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
byte_of = {chr(b): b for b in printable}
byte_of.update({chr(256 + i): b for i, b in enumerate(b for b in range(256) if b not in printable)})
with open(os.path.join(tokenizer, "encoder.json"), encoding="utf-8") as f:
    token_of = {i: t for t, i in json.load(f).items()}


def decode(ids):
    return bytes(byte_of[c] for i in ids for c in token_of[i]).decode("utf-8")


def read_shard(path):
    with open(path, "rb") as f:
        data = f.read()
    header = struct.unpack("<256i", data[:1024])
    assert header[:2] == (20240520, 1), f"{path}: header starts {header[:2]}"
    ids = list(struct.unpack(f"<{(len(data) - 1024) // 2}H", data[1024:]))
    assert header[2] == len(ids), f"{path}: header says {header[2]} tokens, body holds {len(ids)}"
    return ids


def read_split(out, split, limit):
    paths = sorted(glob.glob(f"{out}/{split}_*.bin"))
    assert [os.path.basename(p) for p in paths] == [f"{split}_{i:06d}.bin" for i in range(len(paths))], paths
    shards = [read_shard(p) for p in paths]
    assert all(len(s) == limit for s in shards[:-1]) and all(0 < len(s) <= limit for s in shards), [len(s) for s in shards]
    return [i for s in shards for i in s]


def prepare(out, *args):
    env = dict(os.environ, SOPHIA_KOKKOS_TOKENIZER=tokenizer)
    proc = subprocess.run(cmd + ["prepare", "--out", out, *args], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"prepare {args} failed: {proc.stderr}"
    print(proc.stdout)
    return proc.stdout


def expect(ids, documents):
    assert ids.count(EOT) == len(documents) and (not ids or ids[0] == EOT), f"{ids.count(EOT)} <|endoftext|> tokens"
    assert decode(ids) == "".join("<|endoftext|>" + d for d in documents), decode(ids)


docs = {
    "one": "The first document, long enough to fill more than one shard of sixteen tokens.\n\nIt has two paragraphs.\n",
    "two": "Second: caf\u00e9, na\u00efve, \u65e5\u672c\u8a9e.\n",
    "three": "Third document's text   with spaces.",
}
shutil.rmtree("prepare_check", ignore_errors=True)
os.makedirs("prepare_check/docs")
for name, text in docs.items():
    with open(f"prepare_check/docs/{name}.txt", "w", encoding="utf-8") as f:
        f.write(text)
with open("prepare_check/docs/empty.txt", "w"):
    pass  # empty files are no documents
out = "prepare_check/shards"
os.makedirs(out)
open(f"{out}/train_000099.bin", "wb").close()  # left by an earlier run

# --input given twice, the second a glob (sorted: three before two); 3 documents,
# half of them rounded up (the last two) for validation.
stdout = prepare(out, "--input", "prepare_check/docs/one.txt", "--input", "prepare_check/docs/[te]*.txt",
                 "--val-fraction", "0.5", "--shard-tokens", str(SHARD))
assert "prepare: 3 documents" in stdout, stdout
assert not os.path.exists(f"{out}/train_000099.bin"), "an earlier run's shard was left"
expect(read_split(out, "train", SHARD), [docs["one"]])
expect(read_split(out, "val", SHARD), [docs["three"], docs["two"]])
assert len(glob.glob(f"{out}/train_*.bin")) > 1, "the first document should fill several shards"

# The default fraction, 0.1 of 3 documents, still keeps one for validation.
prepare(out, "--input", "prepare_check/docs/*.txt")
expect(read_split(out, "train", 10**8), [docs["one"], docs["three"]])
expect(read_split(out, "val", 10**8), [docs["two"]])

# Fraction 0: everything trains, no validation shards.
prepare(out, "--input", "prepare_check/docs/*.txt", "--val-fraction", "0")
expect(read_split(out, "train", 10**8), [docs["one"], docs["three"], docs["two"]])
assert not glob.glob(f"{out}/val_*.bin")
print("ok")
