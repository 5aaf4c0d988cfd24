#!/usr/bin/env python3
"""Bad input to `cluster.sh up`: a one-line message on stderr, exit status 1,
and nothing left half-created (no state folder, network namespace or link of
that name). Cases: zero_nodes (N < 1), bad_link (a rate tc refuses),
same_name (a cluster of that name is up; it stays up), not_root.
Usage: check_cli.py CASE STATE_ROOT"""
import os
import random
import re
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from emulated import SkipTest, check_can_create  # noqa: E402

case, state_root = sys.argv[1:3]
script = os.path.join(here, "cluster.sh")
name = "skt" + "".join(random.choice("0123456789abcdef") for _ in range(4))
state = os.path.join(state_root, case)
shutil.rmtree(state, ignore_errors=True)


def cluster_sh(*args, user=None):
    cmd = [script, *args, "--state", state]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def leftovers():
    found = []
    if os.path.isdir(state):
        found += [os.path.join(state, n) for n in os.listdir(state)]
    found += [f"netns {n}" for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else []) if n.startswith(name)]
    found += [f"link {n}" for n in os.listdir("/sys/class/net") if n.startswith(name)]
    return found


def expect_refused(r, pattern):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1 and re.search(pattern, lines[0]), r.stderr
    assert not r.stdout.strip(), r.stdout
    print(f"ok: exit 1: {lines[0]}")


try:
    if case == "not_root":
        # As an unprivileged user (nobody) when run as root, else as this user.
        r = cluster_sh("up", "2", "--name", name, user=65534 if os.geteuid() == 0 else None)
        expect_refused(r, r"^cluster\.sh up: needs root")
    elif case == "zero_nodes":
        for n in ("0", "-1"):
            expect_refused(cluster_sh("up", n, "--name", name), r"^cluster\.sh up: the number of nodes must be 1 to 99")
    else:
        check_can_create()
        if case == "bad_link":
            expect_refused(cluster_sh("up", "2", "--link", "fast", "--name", name),
                           r"^cluster\.sh up: tc refuses the link rate 'fast'")
        elif case == "same_name":
            first = cluster_sh("up", "1", "--name", name, "--link", "none")
            assert first.returncode == 0, first.stderr
            try:
                expect_refused(cluster_sh("up", "2", "--name", name),
                               rf"^cluster\.sh up: a cluster named {name} exists already")
                env = dict(os.environ, SLURM_CONF=os.path.join(state, name, "slurm.conf"))
                sinfo = subprocess.run(["sinfo", "-h", "-o", "%D %t"], capture_output=True, text=True, env=env)
                assert sinfo.stdout.split() == ["1", "idle"], (sinfo.stdout, sinfo.stderr)
                print("ok: the cluster already up is untouched: 1 node idle")
            finally:
                down = cluster_sh("down", name)
                assert down.returncode == 0, down.stderr
        else:
            sys.exit(__doc__)
except SkipTest as e:
    print(f"skipped: {e}")
    sys.exit(77)
left = leftovers()
assert not left, f"left behind: {left}"
shutil.rmtree(state, ignore_errors=True)
print(f"ok: nothing of {name} left behind")
