"""A one-node Slurm on localhost for the job-script tests.

Starts munged, slurmctld and slurmd from Debian's packages with every file
(configuration, keys, state, spool, logs, sockets) under one folder, waits for
the node to be idle, and on exit cancels the jobs left and stops exactly the
daemons it started, by their process ids. Installs nothing.

    with SlurmCluster(folder) as slurm:
        job = slurm.sbatch(["jobs/train.sbatch", "deck.toml"], env)
        fields = slurm.wait_for(job, timeout=600)
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
NODE = "sknode"
PARTITION = "debug"


def die_with_parent():
    """Runs in each daemon before exec: the kernel sends it SIGTERM when the
    harness dies, even by SIGKILL (a CTest timeout), so no daemon outlives it."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class SkipTest(Exception):
    """Slurm or munge is not installed here."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slurm_conf(folder, nodes, ctld=("localhost", "127.0.0.1"),
               writer="tests/slurm/cluster.py: a one-node Slurm on localhost", cluster_name="sophia-kokkos-test",
               per_node_files=False):
    """slurm.conf with every file under `folder`. `nodes`: (name, hostname,
    address, cpus, memory_mb) of each slurmd; `ctld`: the controller's host
    name and address. With per_node_files each slurmd has its own pid file and
    log (slurmd-<node>), for several slurmds on one machine."""
    ctld_port, slurmd_port = free_port(), free_port()
    node = "-%n" if per_node_files else ""
    lines = "".join(f"NodeName={name} NodeHostname={host} NodeAddr={addr} CPUs={cpus} RealMemory={mem} State=UNKNOWN\n"
                    for name, host, addr, cpus, mem in nodes)
    return f"""# Written by {writer}.
ClusterName={cluster_name}
SlurmctldHost={ctld[0]}({ctld[1]})
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it runs again (default 120).
AuthInfo=socket={folder}/munge/socket,cred_expire=20
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool/%n
SlurmctldPidFile={folder}/run/slurmctld.pid
SlurmdPidFile={folder}/run/slurmd{node}.pid
SlurmctldLogFile={folder}/log/slurmctld.log
SlurmdLogFile={folder}/log/slurmd{node}.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=pmix
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Finished jobs stay visible to scontrol while a test reads them.
MinJobAge=3600
KillWait=10
InactiveLimit=0
Waittime=0
{lines}PartitionName={PARTITION} Nodes={",".join(n[0] for n in nodes)} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""


def start_munged(cluster):
    """A munged of its own, key and socket under cluster.folder/munge."""
    f = cluster.folder
    with open(f"{f}/munge/key", "wb") as key:
        key.write(os.urandom(1024))
    os.chmod(f"{f}/munge/key", 0o600)
    cluster._spawn("munged", [DAEMONS["munged"], "--foreground", "--force", f"--socket={f}/munge/socket",
                              f"--key-file={f}/munge/key", f"--pid-file={f}/run/munged.pid",
                              f"--log-file={f}/log/munged.log", f"--seed-file={f}/munge/seed"])
    cluster.wait_until(lambda: os.path.exists(f"{f}/munge/socket"), 20, "munged to open its socket")


class SlurmCluster:
    def __init__(self, folder, cores=None):
        missing = [p for p in list(DAEMONS.values()) + ["/usr/bin/sbatch"] if not os.path.exists(p)]
        if missing:
            raise SkipTest("Slurm/munge not installed (scripts/setup.sh installs slurm-wlm and munge): " + ", ".join(missing))
        if os.geteuid() != 0:
            raise SkipTest("starting slurmd needs root")
        self.folder = os.path.abspath(folder)
        self.cores = cores or os.cpu_count()
        self.procs = {}
        self.env = dict(os.environ, SLURM_CONF=os.path.join(self.folder, "slurm.conf"))

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        # SIGTERM (ctest, a user) unwinds like an exception, through stop().
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
        shutil.rmtree(self.folder, ignore_errors=True)
        for sub in ("munge", "state", "spool", f"spool/{NODE}", "run", "log"):
            os.makedirs(os.path.join(self.folder, sub), mode=0o700)
        os.chmod(self.folder, 0o755)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _start(self):
        f = self.folder
        with open(f"{f}/slurm.conf", "w") as conf:
            conf.write(slurm_conf(f, [(NODE, socket.gethostname(), "127.0.0.1", self.cores, 4096)]))
        start_munged(self)
        self._spawn("slurmctld", [DAEMONS["slurmctld"], "-D", "-i", "-f", f"{f}/slurm.conf"])
        self._spawn("slurmd", [DAEMONS["slurmd"], "-D", "-N", NODE, "-f", f"{f}/slurm.conf"])
        self.wait_until(self._node_idle, 60, f"node {NODE} to be idle")

    def _spawn(self, name, argv, outlive_parent=False):
        """Starts a daemon in a session of its own, logging to log/NAME.out. It
        dies with this process unless outlive_parent (a cluster that a command
        starts and a later command stops)."""
        log = open(os.path.join(self.folder, "log", name + ".out"), "w")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True,
                                            preexec_fn=None if outlive_parent else die_with_parent)

    def wait_until(self, ready, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode} while waiting for {what}; "
                                       f"see {self.folder}/log/")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout} s waiting for {what}; see {self.folder}/log/")

    def _node_idle(self):
        r = self.run(["sinfo", "-h", "-n", NODE, "-o", "%t"], check=False)
        return r.returncode == 0 and r.stdout.strip() == "idle"

    def stop(self):
        """Cancels what is left, then stops the daemons this object started."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.cancel_all()
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.pop(name, None)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def cancel_all(self, timeout=30):
        """Cancels every job (SIGKILL to their processes) and waits until none is left."""
        self.run(["scancel", "--full", "--signal=KILL", "--partition", PARTITION], check=False)
        deadline = time.time() + timeout
        while time.time() < deadline and self.run(["squeue", "-h"], check=False).stdout.strip():
            time.sleep(0.5)

    # -- commands ----------------------------------------------------------
    def run(self, argv, check=True, env=None, cwd=None):
        r = subprocess.run(argv, capture_output=True, text=True, env=env or self.env, cwd=cwd)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def sbatch(self, argv, env=None, cwd=None):
        """Submits a job; returns its id."""
        r = self.run(["sbatch", "--parsable"] + argv, env=env, cwd=cwd)
        return r.stdout.strip().split(";")[0]

    def job(self, job):
        """The controller's fields of a job (JobState, Reason, ExitCode, Restarts, StdOut, ...)."""
        r = self.run(["scontrol", "-o", "show", "job", str(job)], check=False)
        return dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)

    def wait_for(self, job, timeout, done=("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"),
                 while_waiting=None):
        """Waits until a job reaches one of the `done` states; returns its fields.
        `while_waiting(fields)` runs at every poll before that."""
        fields = {}

        def finished():
            fields.clear()
            fields.update(self.job(job))
            if fields.get("JobState") in done:
                return True
            if while_waiting:
                while_waiting(fields)
            return False

        self.wait_until(finished, timeout, f"job {job} to reach {'/'.join(done)}")
        return dict(fields)
