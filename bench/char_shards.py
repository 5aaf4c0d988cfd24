#!/usr/bin/env python3
"""Character-level token shards of a folder of text files: each byte is a
token (vocabulary 256), the files in name order, the last tenth of the bytes
for validation. For bf16 against fp32 on a model with a small vocabulary
(docs/benchmarks.md, "bf16 gemms").
Usage: bench/char_shards.py TEXT_DIR OUT_DIR"""
import os
import sys

import numpy as np


def write_shard(path, tokens):
    header = np.zeros(256, dtype=np.int32)
    header[:3] = (20240520, 1, len(tokens))  # llm.c's token file header (io/tokens.hpp)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype(np.uint16).tobytes())


def main():
    src, out = sys.argv[1:3]
    data = b"".join(open(os.path.join(src, n), "rb").read() for n in sorted(os.listdir(src)))
    tokens = np.frombuffer(data, dtype=np.uint8)
    split = len(tokens) * 9 // 10
    os.makedirs(out, exist_ok=True)
    write_shard(os.path.join(out, "train_000000.bin"), tokens[:split])
    write_shard(os.path.join(out, "val_000000.bin"), tokens[split:])
    print(f"{len(tokens)} bytes: {split} for training, {len(tokens) - split} for validation, in {out}")


if __name__ == "__main__":
    main()
