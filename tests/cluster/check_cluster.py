#!/usr/bin/env python3
"""jobs/train.sbatch, unchanged, across the nodes of an emulated cluster
(emulated.py): each scenario starts a cluster of its own and takes it down.

Scenarios (one per CTest test, label `cluster`):
  reference   the 1-process run of the deck, without Slurm: what the others must match
  nodes2      2 nodes, 1 and then 2 ranks per node, ranks placed by srun
              (PMIx): Sophia-G's gradient and Hessian-estimate reductions
              cross the network; then jobs/scaling.sbatch, whose 2-rank point
              spans both nodes
  nodes3      3 nodes: 1 rank per node by srun (PMIx); 2 ranks per node placed
              by mpirun inside the allocation (SK_LAUNCH=mpirun) with ZeRO-1
              (parallel.zero1): shared memory within a node, TCP between nodes
  requeue     2 nodes: Slurm's warning (SIGUSR1 to the batch shell) reaches the
              ranks on both nodes, they checkpoint, the job requeues itself and
              the next link resumes and finishes the run; then kill_node and
              link_down, the faults a node-loss test uses
  nodeloss    3 nodes, 1 rank per node: every process of node 3 (its slurmd
              and its rank) is killed after the first checkpoint; the ranks
              left name it within parallel.peer_timeout and stop (exit 76),
              the job submits a successor on the 2 nodes left, which resumes
              from the last good checkpoint at 2 ranks and finishes the run
Each run's final weights equal the reference's as the multi-rank tests compare
them (tests/parallel/check_equivalence.py: only the reduction order differs).
Usage: check_cluster.py SCENARIO WORKDIR REPO SHARD_DIR -- SOPHIA_KOKKOS"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from emulated import EmulatedCluster, SkipTest, check_can_create, pids_in_netns  # noqa: E402

sys.path.insert(0, os.path.join(here, ".."))
from runs import final_params_without_key_bias  # noqa: E402

scenario, work_root, repo, shards, sep, exe = sys.argv[1:7]
assert sep == "--", __doc__
work = os.path.join(work_root, scenario)
state_root = os.path.join(work_root, "state")
reference = os.path.join(work_root, "reference")
deck = os.path.join(repo, "configs", "tiny.toml")
# Tiny: a global batch of 12 sequences splits over 1, 2 and 6 ranks; Hessian
# estimates every 5 steps.
STEPS = 40
SETS = [f"data.train_data={shards}/train_*.bin", "data.val_data=", f"train.steps={STEPS}", "train.batch_size=12",
        "train.seq_len=32", "train.grad_accum=1", "optimizer.hessian_interval=5", "schedule.warmup_steps=5",
        "train.log_interval=5", "checkpoint.interval=10", "parallel.bucket_mb=1"]
MPI_ENV = dict(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
# As tests/parallel/check_equivalence.py: losses within 2e-5 relative; parameters
# (without the key bias, whose exact gradient is zero) within 3e-3 relative L2,
# at most 1e-3 of the coordinates further apart than 1e-5.
LOSS_RTOL, PARAM_L2_RTOL, FAR, FAR_FRACTION = 2e-5, 3e-3, 1e-5, 1e-3


def step_losses(run):
    out = {}
    for r in map(json.loads, open(os.path.join(run, "metrics.jsonl"))):
        if r["type"] == "step":
            out[r["step"]] = r["loss"]  # a resumed link may repeat steps after its checkpoint
    return [out[s] for s in sorted(out)]


def assert_matches_reference(run, what):
    ref_l, run_l = step_losses(reference), step_losses(run)
    assert len(ref_l) == len(run_l) == STEPS, (len(ref_l), len(run_l))
    worst = max(abs(a - b) / abs(a) for a, b in zip(ref_l, run_l))
    assert worst < LOSS_RTOL, f"{what}: losses differ from the 1-process run's by {worst:.2e} relative"
    p, q = final_params_without_key_bias(reference), final_params_without_key_bias(run)
    l2 = float(np.linalg.norm(p - q) / np.linalg.norm(p))
    far = float(np.mean(np.abs(p - q) > FAR))
    assert l2 < PARAM_L2_RTOL and far <= FAR_FRACTION, f"{what}: final weights: relative L2 {l2:.2e}, far {far:.2e}"
    print(f"ok: {what}: final weights match the 1-process run (relative L2 {l2:.1e}, max |diff| "
          f"{float(np.max(np.abs(p - q))):.1e}, {far:.1e} of coordinates beyond {FAR}); losses within {worst:.1e}")


def job_env(cluster, **extra):
    return dict(cluster.env, **MPI_ENV, **dict(dict(SK_EXE=exe, SK_RUN_ROOT=os.path.join(work, "runs"),
                                                    SK_SET=" ".join(SETS)), **extra))


def submit(cluster, name, env, *options):
    return cluster.sbatch([f"--job-name={name}", f"--output={work}/%x-%j.out", "--time=10", *options,
                           os.path.join(repo, "jobs", "train.sbatch"), deck], env=env, cwd=repo)


def output(fields):
    with open(fields["StdOut"]) as f:
        return f.read()


def link_bytes(cluster):
    """Bytes through each node's link so far (both directions, counted on the bridge's side)."""
    def read(node, what):
        with open(f"/sys/class/net/{cluster.host_veth(node)}/statistics/{what}_bytes") as f:
            return int(f.read())
    return {n: read(n, "rx") + read(n, "tx") for n in cluster.node_names()}


def run_on_nodes(cluster, name, options, env, expect_hosts):
    t0, before = time.time(), link_bytes(cluster)
    fields = cluster.wait_for(submit(cluster, name, env, *options), 240)
    text = output(fields)
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0", (fields["JobState"], text[-3000:])
    assert fields["NodeList"] == expect_hosts, fields["NodeList"]
    # The gradients (13 MB per rank and step) crossed every node's link.
    moved = {n: (b - before[n]) / 1e6 for n, b in link_bytes(cluster).items()}
    assert all(mb > STEPS for mb in moved.values()), f"MB through each node's link: {moved}"
    print(f"ok: job {fields['JobId']} ({' '.join(options)}) completed on {fields['NodeList']} in {time.time() - t0:.0f} s; "
          f"MB through each node's link: {', '.join(f'{mb:.0f}' for mb in moved.values())}")
    return text


def scenario_reference():
    shutil.rmtree(reference, ignore_errors=True)
    cmd = [exe, "train", "--config", deck]
    for s in SETS + [f"output.dir={reference}"]:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, **MPI_ENV), timeout=600)
    print(f"ok: 1-process reference run of {STEPS} steps in {reference}")


def scenario_nodes2(cluster):
    for per_node in (1, 2):
        name = f"nodes2x{per_node}"
        text = run_on_nodes(cluster, name, ["--nodes=2", f"--ntasks-per-node={per_node}"], job_env(cluster),
                            f"{cluster.name}n[1-2]")
        assert f"ranks: {2 * per_node}," in text, text[-3000:]
        assert_matches_reference(os.path.join(work, "runs", name), f"2 nodes x {per_node} rank(s), srun (PMIx), Sophia-G")
    # jobs/scaling.sbatch: the sweep's 2-rank point spans both nodes.
    env = dict(job_env(cluster), SK_RANKS="1 2", SK_MODES="strong", SK_STEPS="6", SK_WARMUP="2",
               SK_STRONG_BATCH="4", SK_PYTHON=sys.executable, SK_SWEEP=os.path.join(repo, "jobs", "scaling_sweep.sh"),
               SK_SET=SETS[0])
    job = cluster.sbatch([f"--output={work}/%x-%j.out", "--nodes=2", "--ntasks-per-node=1",
                          os.path.join(repo, "jobs", "scaling.sbatch"), deck], env=env, cwd=repo)
    fields = cluster.wait_for(job, 240)
    assert fields["JobState"] == "COMPLETED", output(fields)[-3000:]
    rows = open(os.path.join(work, "runs", f"scaling-{job}", "scaling.csv")).read().splitlines()
    header = rows[0].split(",")
    points = [dict(zip(header, r.split(","))) for r in rows[1:]]
    assert [(p["ranks"], p["nodes"]) for p in points] == [("1", "1"), ("2", "2")], rows
    print("ok: jobs/scaling.sbatch on 2 nodes: 1 rank on 1 node, 2 ranks on 2 nodes")


def scenario_nodes3(cluster):
    text = run_on_nodes(cluster, "nodes3x1", ["--nodes=3", "--ntasks-per-node=1"], job_env(cluster),
                        f"{cluster.name}n[1-3]")
    assert "ranks: 3," in text, text[-3000:]
    assert_matches_reference(os.path.join(work, "runs", "nodes3x1"), "3 nodes x 1 rank, srun (PMIx), Sophia-G")
    env = job_env(cluster, SK_LAUNCH="mpirun", SK_SET=" ".join(SETS + ["parallel.zero1=true"]))
    text = run_on_nodes(cluster, "nodes3x2", ["--nodes=3", "--ntasks-per-node=2"], env, f"{cluster.name}n[1-3]")
    assert "ranks: 6," in text, text[-3000:]
    assert_matches_reference(os.path.join(work, "runs", "nodes3x2"), "3 nodes x 2 ranks, mpirun, ZeRO-1, Sophia-G")


def steps_done(run):
    path = os.path.join(run, "metrics.jsonl")
    return sum('"type":"step"' in line for line in open(path)) if os.path.exists(path) else 0


def scenario_requeue(cluster):
    run = os.path.join(work, "runs", "requeue")
    state = {"warned": False}

    def drive(fields):
        # Slurm's own warning (--signal=B:USR1@T) comes with a time limit; here
        # the same signal is sent once the run is past its first checkpoint.
        if not state["warned"] and fields["JobState"] == "RUNNING" and steps_done(run) >= 12:
            cluster.run(["scancel", "--batch", "--signal=USR1", fields["JobId"]])
            state["warned"] = True
        # The requeued job then waits out Slurm's hold (BeginTime, cred_expire: 20 s
        # here). Not started early: a start forced as soon as the nodes were free
        # once failed the batch launch, with no output from the second link.

    t0 = time.time()
    job = submit(cluster, "requeue", job_env(cluster), "--nodes=2", "--ntasks-per-node=1")
    fields = cluster.wait_for(job, 300, while_waiting=drive)
    text = output(fields)
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0", (fields["JobState"], text[-3000:])
    assert int(fields["Restarts"]) == 1, (fields["Restarts"], text[-3000:])
    assert "received SIGUSR1" in text and "requeueing this job as link 2" in text, text[-3000:]
    assert "resume: " in text and "done: the run is complete" in text, text[-3000:]
    print(f"ok: job {job} on {fields['NodeList']}: warned, checkpointed on both nodes, requeued once and finished "
          f"in {time.time() - t0:.0f} s")
    assert_matches_reference(run, "2 nodes, interrupted by SIGUSR1 and requeued")
    # The faults a node-loss test uses.
    node = cluster.node_names()[1]
    killed = cluster.kill_node(node)
    assert killed and not pids_in_netns(f"/run/netns/{cluster.netns(node)}"), killed
    cluster.link_down(cluster.node_names()[0])
    r = subprocess.run(["ip", "-br", "link", "show", cluster.host_veth(cluster.node_names()[0])],
                       capture_output=True, text=True)
    assert "DOWN" in r.stdout, r.stdout
    print(f"ok: kill_node({node}) killed {len(killed)} process(es) (its slurmd); link_down cut {cluster.node_names()[0]}")


def scenario_nodeloss(cluster):
    run = os.path.join(work, "runs", "nodeloss")
    lost = cluster.node_names()[2]
    peer_timeout = 10
    env = job_env(cluster, SK_SET=" ".join(SETS + [f"parallel.peer_timeout={peer_timeout}"]))
    job = submit(cluster, "nodeloss", env, "--nodes=3", "--ntasks-per-node=1")
    log = os.path.join(work, f"nodeloss-{job}.out")
    state = {}

    def successor_submitted():
        # Past the checkpoint of step 10 and before the end: the loss of a node.
        if "killed" not in state and steps_done(run) >= 14:
            state["killed"] = cluster.kill_node(lost)
            state["at"], state["step"] = time.time(), steps_done(run)
        text = open(log).read() if os.path.exists(log) else ""
        found = re.search(r"submitted job (\d+) on 2 node\(s\)", text)
        if found:
            state["successor"], state["text"] = found.group(1), text
        return found is not None

    cluster.wait_until(successor_submitted, 300, f"job {job} to lose {lost} and submit a successor")
    text, waited = state["text"], time.time() - state["at"]
    assert state["killed"], f"no process of {lost} was found to kill"
    assert re.search(rf"rank 2 on {lost}\S* .*has stopped", text), text[-3000:]
    assert f"lost nodes: {lost}" in text, text[-3000:]
    # Found by the heartbeats within the time-out, plus a heartbeat interval and
    # the launcher's exit: no hang.
    assert waited < 3 * peer_timeout + 30, f"the successor came {waited:.0f} s after the loss"
    print(f"ok: {lost} killed after step {state['step']}; the other ranks named it, stopped with exit 76, and job "
          f"{job} submitted job {state['successor']} on the 2 nodes left, {waited:.0f} s after the loss")
    fields = cluster.wait_for(state["successor"], 240)
    text = output(fields)
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0", (fields["JobState"], text[-3000:])
    assert fields["NodeList"] == f"{cluster.name}n[1-2]", fields["NodeList"]
    after = text[text.index(f"submitted job {state['successor']}"):]
    assert "ranks: 2," in after and "resume: " in after, after[-3000:]
    print(f"ok: job {state['successor']} resumed at 2 ranks on {fields['NodeList']} and finished")
    assert_matches_reference(run, "3 nodes, node 3 lost, resumed on 2 nodes")


def main():
    if scenario == "reference":
        return scenario_reference()
    nodes = {"nodes2": 2, "nodes3": 3, "requeue": 2, "nodeloss": 3}[scenario]
    try:
        check_can_create()
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        EmulatedCluster.reap_stale(state_root)  # clusters of tests killed before they could take them down
        with EmulatedCluster(state_root, nodes=nodes, link="1gbit") as cluster:
            print(f"cluster {cluster.name}: {nodes} nodes on {cluster.state['subnet']}, links 1gbit")
            globals()["scenario_" + scenario](cluster)
    except SkipTest as e:
        print(f"skipped: {e}")
        sys.exit(77)


if __name__ == "__main__":
    main()
