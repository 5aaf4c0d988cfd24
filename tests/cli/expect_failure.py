#!/usr/bin/env python3
"""Runs a command that must fail cleanly: a non-zero exit status (not a crash
by signal), and a message on stderr that matches a pattern. With --unchanged
FILE, that file must be the same afterwards (a failure loses no earlier output).
Usage: expect_failure.py PATTERN [--unchanged FILE] -- COMMAND [ARGS...]"""
import re
import subprocess
import sys

args = sys.argv[1:]
pattern, args = args[0], args[1:]
kept = None
if args[0] == "--unchanged":
    kept, args = args[1], args[2:]
assert args[0] == "--", __doc__
cmd = args[1:]
before = open(kept, "rb").read() if kept else None
proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
problems = []
if kept and open(kept, "rb").read() != before:
    problems.append(f"{kept} was changed")
if proc.returncode == 0:
    problems.append("exited 0")
elif proc.returncode < 0 or proc.returncode > 125:
    problems.append(f"crashed (status {proc.returncode})")
if not re.search(pattern, proc.stderr):
    problems.append(f"stderr does not match {pattern!r}")
if "terminate called" in proc.stderr or "Segmentation" in proc.stderr:
    problems.append("stderr shows a crash")
if problems:
    print("command:", " ".join(cmd))
    print("stderr:", proc.stderr)
    sys.exit("; ".join(problems))
print(f"ok: status {proc.returncode}: {proc.stderr.strip()}")
