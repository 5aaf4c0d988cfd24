#!/usr/bin/env python3
"""The batch scripts in jobs/ on a real one-node Slurm (cluster.py).

Scenarios (one per CTest test):
  reference      the uninterrupted run the others must match (mpiexec, 2 ranks)
  chain          jobs/train.sbatch with a time limit far shorter than the run:
                 Slurm's warning (--signal=B:USR1) reaches the program, which
                 checkpoints; the job requeues itself until the run is done, and
                 ends bit-identical to the reference with no checkpoint lost
  successor      the chain by successor jobs (SK_CHAIN=successor), warned by
                 `scancel --batch --signal=USR1`; it stops at SK_MAX_LINKS, and
                 a resubmission finishes it, identical to the reference
  kill           a job cancelled with scancel --signal=KILL, then one whose ranks
                 get SIGKILL (a node crash): each resubmission resumes from the
                 last checkpoint, and the run ends identical to the reference
  scaling        jobs/scaling.sbatch on 1 and 2 ranks: the CSV and the plots
  stuck_launcher a launcher that outlives ranks which named a lost node (as srun
                 can, waiting for a dead node): stopped after the grace, exit 76
  bad_input      a missing deck, an unknown partition, a run folder that cannot
                 be written, no program, SK_OMP_WAIT neither active nor passive:
                 refused before the program starts, with a message
Usage: check_jobs.py SCENARIO WORKDIR REPO SHARD_DIR -- SOPHIA_KOKKOS MPIEXEC"""
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cluster import SkipTest, SlurmCluster  # noqa: E402
from runs import assert_same_files, losses  # noqa: E402

scenario, work_root, repo, shards, sep, exe, mpiexec = sys.argv[1:8]
assert sep == "--", __doc__
work = os.path.join(work_root, scenario)
reference = os.path.join(work_root, "reference")
deck = os.path.join(repo, "configs", "tiny.toml")
# Long enough (about 30 s on 2 ranks of the 2-core machine) that the chain
# scenario outlasts its first link: Slurm warns 50 s before the 1-minute limit,
# late by up to its time-limit check interval (a link took 120 to 140 steps).
STEPS, EVERY, KEEP_LAST = 300, 50, 2
SETS = [f"data.train_data={shards}/train_*.bin", f"data.val_data={shards}/val_*.bin", f"train.steps={STEPS}",
        f"checkpoint.interval={EVERY}", f"checkpoint.keep_last={KEEP_LAST}", f"checkpoint.keep_every={EVERY}",
        "train.eval_interval=100", "train.eval_batches=4", "train.log_interval=25"]
# Both ranks single-threaded, in the reference and in the jobs (train.sbatch sets the same).
MPI_ENV = dict(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")


def job_env(slurm, **extra):
    return dict(slurm.env, **MPI_ENV, SK_EXE=exe, SK_RUN_ROOT=os.path.join(work, "runs"), SK_SET=" ".join(SETS),
                **extra)


def submit(slurm, name, env, *options, script="train.sbatch", args=(deck,)):
    return slurm.sbatch([f"--job-name={name}", f"--output={work}/%x-%j.out", *options,
                         os.path.join(repo, "jobs", script), *args], env=env, cwd=repo)


def output(fields):
    with open(fields["StdOut"]) as f:
        return f.read()


def run_dir(name):
    return os.path.join(work, "runs", name)


def steps_done(run):
    path = os.path.join(run, "metrics.jsonl")
    return sum('"type":"step"' in line for line in open(path)) if os.path.exists(path) else 0


def assert_matches_reference(run, text):
    assert_same_files(os.path.join(reference, "final.h5"), os.path.join(run, "final.h5"), "final weights")
    last = f"ckpt_{STEPS:08d}.h5"
    assert_same_files(os.path.join(reference, last), os.path.join(run, last), "final checkpoint")
    assert losses(reference) == losses(run), "the loss history differs from the uninterrupted run's"
    # No checkpoint lost: what remains is exactly what the keep policy keeps of
    # all that the links wrote, each complete and verified, `latest` the newest.
    written = sorted({int(s) for s in re.findall(r"checkpoint: \S*ckpt_(\d+)\.h5", text)})
    kept = {s for s in written if s % EVERY == 0} | set(written[-KEEP_LAST:])
    present = sorted(int(n[5:13]) for n in os.listdir(run) if re.fullmatch(r"ckpt_\d{8}\.h5", n))
    assert present == sorted(kept), f"checkpoints {present}, the keep policy says {sorted(kept)} of {written}"
    assert not [n for n in os.listdir(run) if n.endswith(".tmp")], os.listdir(run)
    assert open(os.path.join(run, "latest")).read().strip() == last
    for s in present:
        subprocess.run([exe, "inspect", os.path.join(run, f"ckpt_{s:08d}.h5")], check=True, capture_output=True)
    print(f"ok: final weights, optimizer state and loss history bit-identical to the uninterrupted run; "
          f"checkpoints {present} kept of {written}, all verified")


def follow_chain(slurm, job, timeout, while_waiting=None):
    """Waits for a job and the successors it submits; returns [(fields, log so far)]."""
    chain, deadline = [], time.time() + timeout
    while job:
        fields = slurm.wait_for(job, max(1, deadline - time.time()), while_waiting=while_waiting)
        text = output(fields)
        chain.append((fields, text))
        # Links append to one log: the successor is the one this job submitted.
        found = re.findall(rf"\[job {fields['JobId']} link \d+\] checkpointed; submitted job (\d+) as link", text)
        job = found[-1] if found else None
    return chain


def scenario_reference():
    shutil.rmtree(reference, ignore_errors=True)  # a run refuses a folder holding another run's output
    cmd = [mpiexec, "-n", "2", exe, "train", "--config", deck]
    for s in SETS + [f"output.dir={reference}"]:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, **MPI_ENV), timeout=900)
    print(f"ok: reference run of {STEPS} steps on 2 ranks in {reference}")


def scenario_chain(slurm):
    # Slurm warns when under 50 s are left of the 1-minute limit; the run takes longer than that.
    job = submit(slurm, "chain", job_env(slurm), "--time=1", "--signal=B:USR1@50")
    # Slurm holds a requeued job (Reason=BeginTime) for the credential lifetime,
    # cred_expire (20 s in cluster.py's slurm.conf), before it runs again.
    fields = slurm.wait_for(job, 1200)
    text = output(fields)
    restarts = int(fields["Restarts"])
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0", (fields["JobState"], text[-3000:])
    assert restarts >= 1, "the job finished without being requeued: the run did not outlast the time limit"
    assert text.count("received SIGUSR1") == restarts, text[-3000:]
    assert text.count("exit code 75 asks for a requeue") == restarts, text[-3000:]
    assert text.count("requeueing this job") == restarts and "done: the run is complete" in text, text[-3000:]
    for link in range(2, restarts + 2):
        assert f"link {link}] run folder" in text, f"link {link} did not start"
    print(f"ok: warned by Slurm, checkpointed and requeued {restarts} time(s), then done")
    assert_matches_reference(run_dir("chain"), text)


def scenario_successor(slurm):
    start = {}  # job -> steps done when it was first seen running

    def warn_after_progress(fields):
        """Plays Slurm's warning for each link once it has taken 30 steps."""
        run, job = run_dir("successor"), fields["JobId"]
        if fields["JobState"] != "RUNNING" or start.get(job, 0) < 0:
            return
        start.setdefault(job, steps_done(run))
        if steps_done(run) >= start[job] + 30:
            slurm.run(["scancel", "--batch", "--signal=USR1", job])
            start[job] = -1  # warned

    env = job_env(slurm, SK_CHAIN="successor", SK_MAX_LINKS="3")
    chain = follow_chain(slurm, submit(slurm, "successor", env, "--time=10"), 900, warn_after_progress)
    assert len(chain) == 3, [f["JobId"] for f, _ in chain]
    for link, (fields, text) in enumerate(chain, 1):
        assert fields["ExitCode"] == "75:0", (link, fields["JobState"], fields["ExitCode"], text[-2000:])
        assert "received SIGUSR1" in text and f"link {link}] run folder" in text, text[-2000:]
    assert "reached SK_MAX_LINKS=3 links and stops here" in chain[-1][1], chain[-1][1][-2000:]
    assert not os.path.exists(os.path.join(run_dir("successor"), "final.h5"))
    print(f"ok: jobs {', '.join(f['JobId'] for f, _ in chain)} each warned, checkpointed and submitted the next; "
          "the chain stopped at SK_MAX_LINKS=3")
    # Resubmitted under the same name: continues from the last checkpoint to the end.
    fields = slurm.wait_for(submit(slurm, "successor", job_env(slurm), "--time=10"), 600)
    text = output(fields)
    assert fields["JobState"] == "COMPLETED", text[-3000:]
    assert re.search(r"resume: \S*ckpt_\d+\.h5 at step \d+", text), text[-3000:]
    assert_matches_reference(run_dir("successor"), "".join(t for _, t in chain) + text)


def scenario_mpirun(slurm):
    """SK_LAUNCH=mpirun, for sites whose srun cannot start MPI programs: Open
    MPI's launcher inside the allocation passes the warning on to the ranks."""
    run = run_dir("mpirun")
    first = {"job": None, "start": 0, "warned": False}

    def warn_first_link(fields):
        if first["warned"] or fields["JobState"] != "RUNNING":
            return
        if first["job"] is None:
            first.update(job=fields["JobId"], start=steps_done(run))
        if steps_done(run) >= first["start"] + 30:
            slurm.run(["scancel", "--batch", "--signal=USR1", first["job"]])
            first["warned"] = True

    env = job_env(slurm, SK_CHAIN="successor", SK_LAUNCH="mpirun")
    chain = follow_chain(slurm, submit(slurm, "mpirun", env, "--time=10"), 900, warn_first_link)
    assert len(chain) == 2, [(f["JobId"], f["JobState"], f["ExitCode"]) for f, _ in chain]
    (warned, warned_text), (last, last_text) = chain
    assert warned["ExitCode"] == "75:0" and "received SIGUSR1" in warned_text, warned_text[-2000:]
    assert last["JobState"] == "COMPLETED" and "done: the run is complete" in last_text, last_text[-3000:]
    print(f"ok: under mpirun, job {warned['JobId']} was warned, checkpointed and submitted "
          f"job {last['JobId']}, which finished the run")
    assert_matches_reference(run, warned_text + last_text)


def scenario_kill(slurm):
    run, name = run_dir("killed"), "killed"
    latest = os.path.join(run, "latest")

    def start_until_checkpoint(step):
        """Submits the run and waits until it has saved the checkpoint of `step`."""
        job = submit(slurm, name, job_env(slurm), "--time=10")
        slurm.wait_until(lambda: slurm.job(job).get("JobState") == "RUNNING" and os.path.exists(latest) and
                         int(open(latest).read().strip()[5:13]) >= step, 600, f"the checkpoint of step {step}")
        return job

    def resumed_from_latest(job, how):
        fields = slurm.wait_for(job, 120)
        text = output(fields)
        assert fields["JobState"] in ("CANCELLED", "FAILED"), (fields["JobState"], text[-2000:])
        assert not os.path.exists(os.path.join(run, "final.h5"))
        print(f"ok: job {job} {how}: {fields['JobState']}, exit {fields['ExitCode']}, "
              f"latest {open(latest).read().strip()}")
        return text, os.path.join(run, open(latest).read().strip())

    # scancel --signal=KILL: Slurm cancels the job (SIGTERM, SIGKILL after
    # KillWait); the program may save a checkpoint on SIGTERM, and stops.
    job = start_until_checkpoint(EVERY)
    slurm.run(["scancel", "--signal=KILL", job])
    log, last = resumed_from_latest(job, "cancelled by scancel --signal=KILL")
    # SIGKILL to every rank of the next job, as a node crash would: no handler
    # runs; the script reports the failure and ends the chain.
    job = start_until_checkpoint(int(last[-11:-3]) + EVERY)
    assert f"resume: {last} at step" in output(slurm.job(job)), output(slurm.job(job))[-2000:]
    # The ranks are the tasks of step 0 (PID JOBID STEPID LOCALID GLOBALID).
    listing = slurm.run(["scontrol", "listpids", job]).stdout
    ranks = [int(row[0]) for row in map(str.split, listing.splitlines()[1:]) if row[2].isdigit()]
    assert len(ranks) == 2, listing
    for pid in ranks:
        os.kill(pid, signal.SIGKILL)
    text, last = resumed_from_latest(job, "with its ranks killed by SIGKILL")
    assert "failed with exit code" in text and "stopped by a signal" not in text.split("run folder")[-1], text[-2000:]
    # The kill may land before the program's "checkpoint:" line of the
    # checkpoint `latest` names reaches the log; that checkpoint was written.
    log += f"checkpoint: {last}\n"
    fields = slurm.wait_for(submit(slurm, name, job_env(slurm), "--time=10"), 600)
    text = output(fields)
    assert fields["JobState"] == "COMPLETED", text[-3000:]
    assert f"resume: {last} at step" in text, (last, text[-3000:])
    assert_matches_reference(run, log + "".join(output(slurm.job(j)) for j in (job, fields["JobId"])))


def scenario_scaling(slurm):
    env = dict(job_env(slurm), SK_RANKS="1 2", SK_STEPS="6", SK_WARMUP="2", SK_STRONG_BATCH="8", SK_WEAK_BATCH="4",
               SK_PYTHON=sys.executable, SK_SWEEP=os.path.join(repo, "jobs", "scaling_sweep.sh"))
    env["SK_SET"] = " ".join(SETS[:1])  # the training shards; the sweep sets the rest
    job = submit(slurm, "scaling", env, "--ntasks=2", script="scaling.sbatch")
    fields = slurm.wait_for(job, 600)
    assert fields["JobState"] == "COMPLETED", output(fields)[-3000:]
    out = os.path.join(work, "runs", f"scaling-{job}")
    rows = list(csv.DictReader(open(os.path.join(out, "scaling.csv"))))
    assert [(r["mode"], r["ranks"], r["nodes"], r["batch_size"]) for r in rows] == \
        [("strong", "1", "1", "8"), ("strong", "2", "1", "8"), ("weak", "1", "1", "4"), ("weak", "2", "1", "8")], rows
    for r in rows:
        phases = sum(float(r[k]) for k in ("t_data", "t_forward", "t_backward", "t_comm_wait", "t_optimizer"))
        assert float(r["tokens_per_s"]) > 0 and 0 < phases <= float(r["step_time"]) * 1.001, r
        assert r["steps"] == "4" and 0 <= float(r["exposed_comm"]) < 1, r
        assert 0 < float(r["efficiency"]) <= 1.5 and (r["ranks"] != "1" or float(r["efficiency"]) == 1.0), r
        assert (r["ranks"] == "1") == (float(r["t_comm_wait"]) == 0), r
    for png in ("speedup.png", "efficiency.png"):
        with open(os.path.join(out, png), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", png
    print("ok: scaling sweep through Slurm on 1 and 2 ranks:\n" + open(os.path.join(out, "scaling.csv")).read())


def scenario_stuck_launcher(slurm):
    # In place of srun: writes lost_nodes naming the job's node into the run
    # folder it is given, as ranks that lost a peer do, then waits on,
    # deaf to the signals the script forwards.
    launcher = os.path.join(work, "stuck_launcher.sh")
    with open(launcher, "w") as f:
        f.write('#!/bin/bash\n'
                'for a in "$@"; do case $a in output.dir=*) dir=${a#output.dir=} ;; esac; done\n'
                'echo "$SLURMD_NODENAME" > "$dir/lost_nodes"\n'
                'trap "" TERM USR1\n'
                'exec sleep 600\n')
    os.chmod(launcher, 0o755)
    t0 = time.time()
    fields = slurm.wait_for(submit(slurm, "stuck_launcher", job_env(slurm, SK_LAUNCH=launcher)), 120)
    text, took = output(fields), time.time() - t0
    assert fields["ExitCode"] == "76:0", (fields["ExitCode"], text)
    assert "still waiting for it after 20 s: stopping the launcher" in text, text
    assert "lost: sknode" in text and "not continuing" in text, text
    assert took < 60, f"the job took {took:.0f} s"
    print(f"ok: a launcher left waiting after the ranks named a lost node was stopped; the job ended with 76 in "
          f"{took:.0f} s")


def expect_refused(slurm, name, pattern, env, args=(deck,)):
    fields = slurm.wait_for(submit(slurm, name, env, args=args), 120)
    text = output(fields)
    assert fields["ExitCode"] == "2:0" and re.search(pattern, text), (fields["ExitCode"], text)
    assert "resume:" not in text and "model:" not in text, "the program was launched: " + text
    print(f"ok: {name}: refused before launch: {re.search(pattern, text).group(0)}")


def scenario_bad_input(slurm):
    expect_refused(slurm, "no_deck", r"deck \S*absent\.toml does not exist", job_env(slurm),
                   args=(os.path.join(work, "absent.toml"),))
    r = slurm.run(["sbatch", "--partition=nosuch", os.path.join(repo, "jobs", "train.sbatch"), deck],
                  check=False, env=job_env(slurm), cwd=repo)
    assert r.returncode != 0 and "invalid partition" in r.stderr.lower() and "nosuch" in r.stderr, r.stderr
    print(f"ok: unknown partition refused by sbatch: {r.stderr.strip()}")
    expect_refused(slurm, "no_folder", r"cannot create the run folder /proc/\S+",
                   dict(job_env(slurm), SK_RUN_ROOT="/proc/sophia-kokkos-runs"))
    expect_refused(slurm, "no_program", r"sophia-kokkos not found", dict(job_env(slurm), SK_EXE="/nonexistent"))
    expect_refused(slurm, "omp_wait", r"SK_OMP_WAIT=spin is not active or passive", dict(job_env(slurm), SK_OMP_WAIT="spin"))
    # A folder that exists but cannot be written, even by root: a read-only mount.
    readonly = run_dir("read_only")
    os.makedirs(readonly)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", readonly]).returncode != 0:
        print("skipped: the read-only run folder needs `mount` (root): not allowed here")
        return
    try:
        expect_refused(slurm, "read_only", r"the run folder \S+ is not writable", job_env(slurm))
    finally:
        subprocess.run(["umount", readonly])


def main():
    if scenario == "reference":
        return scenario_reference()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        with SlurmCluster(os.path.join(work, "slurm")) as slurm:
            globals()["scenario_" + scenario](slurm)
    except SkipTest as e:
        print(f"skipped: {e}")
        sys.exit(77)


if __name__ == "__main__":
    main()
