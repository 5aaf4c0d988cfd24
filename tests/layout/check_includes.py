#!/usr/bin/env python3
"""The layers (src/core, src/ranks, io, kernels, src/model, src/parallel, src/train,
src/app) are CMake libraries, each with only its own folder and those of the
layers below it on the include path, so a header of a layer above cannot be
found. A quoted include with a path ("../train/step.hpp") would get around
that; this check refuses one in any of the layers' files.
Usage: check_includes.py REPOSITORY_ROOT"""
import glob
import os
import re
import sys

root = sys.argv[1]
files = [f for pattern in ("src/*/*.[ch]pp", "io/*.[ch]pp", "kernels/*.hpp")
         for f in glob.glob(os.path.join(root, pattern))]
assert len(files) > 50, f"only {len(files)} sources found under {root}"
bad = []
for path in files:
    for number, line in enumerate(open(path), 1):
        match = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if match and "/" in match.group(1):
            bad.append(f"{os.path.relpath(path, root)}:{number}: {line.strip()}")
assert not bad, "includes with a path get around the layering (name the header alone):\n" + "\n".join(bad)
print(f"ok: {len(files)} sources include project headers by name only")
