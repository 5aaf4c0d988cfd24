#!/usr/bin/env python3
"""Runs a command that must fail cleanly: a non-zero exit status (not a crash
by signal), and a message on stderr that matches a pattern.
Usage: expect_failure.py PATTERN -- COMMAND [ARGS...]"""
import re
import subprocess
import sys

pattern, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
assert sep == "--", __doc__
proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
problems = []
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
