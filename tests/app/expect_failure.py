#!/usr/bin/env python3
"""Runs a command that must fail cleanly: a non-zero exit status (not a crash
by signal), and a message on stderr that matches a pattern and passes on no
raw text of the C++ library (an exception's own what()). With --unchanged
FILE, that file must be the same afterwards (a failure loses no earlier
output); with --absent FILE, that file must not exist afterwards (a failure
leaves no temporary behind).
Usage: expect_failure.py PATTERN [--unchanged FILE] [--absent FILE] -- COMMAND [ARGS...]"""
import os
import re
import subprocess
import sys

args = sys.argv[1:]
pattern, args = args[0], args[1:]
kept = absent = None
while args[0] in ("--unchanged", "--absent"):
    if args[0] == "--unchanged":
        kept = args[1]
    else:
        absent = args[1]
    args = args[2:]
assert args[0] == "--", __doc__
cmd = args[1:]
before = open(kept, "rb").read() if kept else None
proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
problems = []
if kept and open(kept, "rb").read() != before:
    problems.append(f"{kept} was changed")
if absent and os.path.lexists(absent):
    problems.append(f"{absent} was left behind")
if proc.returncode == 0:
    problems.append("exited 0")
elif proc.returncode < 0 or proc.returncode > 125:
    problems.append(f"crashed (status {proc.returncode})")
if not re.search(pattern, proc.stderr):
    problems.append(f"stderr does not match {pattern!r}")
if "terminate called" in proc.stderr or "Segmentation" in proc.stderr:
    problems.append("stderr shows a crash")
for raw in ("json.exception", "filesystem error", "basic_filebuf", "basic_ios::clear", "std::"):
    if raw in proc.stderr:
        problems.append(f"stderr passes on the library's text ({raw})")
if problems:
    print("command:", " ".join(cmd))
    print("stderr:", proc.stderr)
    sys.exit("; ".join(problems))
print(f"ok: status {proc.returncode}: {proc.stderr.strip()}")
