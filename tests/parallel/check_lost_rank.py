#!/usr/bin/env python3
"""A rank that stops responding ends the job instead of hanging it, and the run
resumes on fewer ranks. Trains the tiny deck on 2 ranks with a checkpoint every
5 steps and parallel.peer_timeout = 8 s, freezes rank 1 (SIGSTOP: its process
and its heartbeat stop, as when its node dies) after step 12, and checks that
rank 0 gives up within the time-out and a few heartbeats, naming rank 1 and
its host, with exit code 76 and the host in lost_nodes. Then the run resumes
on 1 rank from its newest good checkpoint and finishes, and its final weights
and losses equal those of a copy of that checkpoint resumed by a run that
never lost a rank.
Usage: check_lost_rank.py SHARD_DIR DECK OUT_DIR -- MPIEXEC NP_FLAG SOPHIA_KOKKOS"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from runs import assert_same_files, losses  # noqa: E402

shards, deck, out, sep = sys.argv[1:5]
mpiexec, np_flag, exe = sys.argv[5:8]
assert sep == "--", __doc__
TIMEOUT = 8.0  # above the slowest step or checkpoint under the sanitizers on a loaded machine
common = [exe, "train", "--config", deck, "--set", "train.steps=40", "--set", "checkpoint.interval=5",
          "--set", "checkpoint.keep_last=20", "--set", f"data.train_data={shards}/train_*.bin", "--set", "data.val_data=",
          "--set", "train.log_interval=5", "--set", f"parallel.peer_timeout={TIMEOUT}"]
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
lost, survived = os.path.join(out, "lost"), os.path.join(out, "uninterrupted")


def steps_done(run):
    try:
        return sum(1 for line in open(os.path.join(run, "metrics.jsonl")) if '"type":"step"' in line)
    except FileNotFoundError:
        return 0


def rank_pid(run, rank):
    with open(os.path.join(run, ".heartbeats", f"rank-{rank}")) as f:
        return int(f.read().split()[2])


# 1. Two ranks; rank 1 freezes after step 12.
job = subprocess.Popen([mpiexec, np_flag, "2"] + common + ["--set", f"output.dir={lost}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
deadline = time.time() + 300
while steps_done(lost) < 12:
    assert job.poll() is None and time.time() < deadline, "the 2-rank run ended before step 12"
    time.sleep(0.02)
frozen = rank_pid(lost, 1)
os.kill(frozen, signal.SIGSTOP)
stopped_at = time.time()
try:
    stdout, stderr = job.communicate(timeout=120)
except subprocess.TimeoutExpired:
    job.kill()
    raise AssertionError("the surviving rank hung for 120 s after rank 1 stopped")
finally:
    try:
        os.kill(frozen, signal.SIGKILL)
    except ProcessLookupError:
        pass
waited = time.time() - stopped_at
print(stderr)
assert job.returncode == 76, f"exit code {job.returncode}, not 76"
host = socket.gethostname()
assert re.search(rf"rank 1 on {re.escape(host)} \(pid {frozen}, last at step \d+\) has stopped", stderr), stderr
assert "stopping with exit code 76" in stderr, stderr
assert open(os.path.join(lost, "lost_nodes")).read() == host + "\n"
# The time-out, three heartbeat intervals of examination, and the launcher's clean-up.
assert waited < TIMEOUT + 15, f"rank 0 took {waited:.1f} s to give up"
print(f"ok: rank 0 gave up {waited:.1f} s after rank 1 stopped (time-out {TIMEOUT} s)")

# 2. One rank resumes from the newest good checkpoint and finishes.
resumed = subprocess.run(common + ["--set", f"output.dir={lost}", "--resume", "auto"],
                         capture_output=True, text=True, timeout=600)
assert resumed.returncode == 0, resumed.stdout + resumed.stderr
checkpoint = re.search(r"resume: (\S+) at step (\d+)", resumed.stdout)
assert checkpoint, resumed.stdout
step = int(checkpoint.group(2))
assert 10 <= step <= 40 and step % 5 == 0, f"resumed at step {step}"

# 3. The same checkpoint resumed in a folder that never saw the loss.
os.makedirs(survived)
shutil.copy(checkpoint.group(1), survived)
subprocess.run(common + ["--set", f"output.dir={survived}", "--resume", "auto"], check=True,
               stdout=subprocess.DEVNULL, timeout=600)
assert_same_files(os.path.join(lost, "final.h5"), os.path.join(survived, "final.h5"), "final weights")
after = [r for r in losses(lost) if r[1] > step]
assert after == [r for r in losses(survived) if r[1] > step] and len(after) == 40 - step
print(f"ok: resumed on 1 rank at step {step}; final weights equal the uninterrupted resume's")
