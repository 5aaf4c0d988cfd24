"""A multi-node Slurm cluster emulated on one machine, for the multi-node tests
and for people (tests/cluster/cluster.sh is its command line).

Each node is a network namespace with an address on a private /24 of its own,
joined to the others and to this host by a bridge; each node's link (both
ends: tc shapes only what leaves an interface) is limited by `tc tbf` to the
given rate. slurmd runs in its node's network namespace and in a UTS and mount
namespace of its own: its own host name, a private /tmp (the node-local
scratch, also where PMIx keeps its per-step folders), and an /etc/hosts that
names every node. Processes that slurmd starts (slurmstepd, the job's ranks)
inherit all three. munged and slurmctld run on this host, on the bridge; the
machine's file system plays the cluster's shared file system. Open MPI is
told (env.sh, `env`) to use TCP over the cluster's subnet between nodes and
shared memory within a node. netem is not in every kernel (not in this
machine's): links have a rate, no added latency.

Everything `up` creates is recorded, as it is created, in the state folder
(state.json: namespaces, links, daemons by pid and start time), so `down`
stops exactly the processes it started and removes exactly what it made, also
after a failed `up` or a killed test. Names and the subnet are chosen per run,
under a lock, so two clusters do not collide.

    with EmulatedCluster(state_root, nodes=2, link="1gbit") as c:
        job = c.sbatch(["--nodes=2", "jobs/train.sbatch", deck], env=dict(c.env, ...))
        c.wait_for(job, 300)
"""
import fcntl
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "slurm"))
from cluster import DAEMONS, SkipTest, SlurmCluster, slurm_conf, start_munged  # noqa: E402

NAME_RE = re.compile(r"[a-z][a-z0-9]{0,7}")  # interface names: NAME-br, NAME-v12 fit in 15 characters
SUBNETS = ipaddress.ip_network("10.213.0.0/16")  # each cluster takes one /24 of it
LOCK = "/run/lock/sophia-kokkos-cluster.lock"
DEFAULT_ROOT = "/run/sophia-kokkos-cluster"
NODE_CPUS, NODE_MEMORY_MB = 2, 1024


class ClusterError(Exception):
    """A refusal or failure of `up`/`down`: one line for the user."""


def sh(argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed: {' '.join((r.stderr or r.stdout).split())}")
    return r


def start_time(pid):
    """The process' start time in clock ticks (/proc/PID/stat field 22), or None: with the pid it names one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def zombie(pid):
    """A process that has ended and waits for its parent to collect it (it runs nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def netns_inode(path):
    return os.stat(path).st_ino


def pids_in_netns(path):
    """Every process whose network namespace is the one bound at `path`."""
    try:
        ino = netns_inode(path)
    except OSError:
        return []
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat(f"/proc/{p}/ns/net").st_ino == ino and not zombie(p):
                    out.append(int(p))
            except OSError:
                pass
    return out


def check_can_create():
    """Raises SkipTest (tests) with the reason when this machine cannot host a cluster."""
    if os.geteuid() != 0:
        raise SkipTest("an emulated cluster needs root (network namespaces, veth links, tc)")
    for tool in ("ip", "tc", "nsenter", "unshare"):
        if not shutil.which(tool):
            raise SkipTest(f"an emulated cluster needs `{tool}` (iproute2, util-linux)")
    missing = [p for p in list(DAEMONS.values()) + ["/usr/bin/sbatch"] if not os.path.exists(p)]
    if missing:
        raise SkipTest("Slurm/munge not installed (scripts/setup.sh installs slurm-wlm and munge): " + ", ".join(missing))
    probe = f"skprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        raise SkipTest(f"network namespaces cannot be made here: {' '.join(r.stderr.split())}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


class EmulatedCluster(SlurmCluster):
    def __init__(self, state_root=DEFAULT_ROOT, nodes=2, link="1gbit", name=None, outlive_parent=False):
        if os.geteuid() != 0:
            raise ClusterError("needs root: network namespaces, veth links and tc need root")
        if not isinstance(nodes, int) or nodes < 1 or nodes > 99:
            raise ClusterError(f"the number of nodes must be 1 to 99, not {nodes}")
        if name is None:
            name = "skc" + "".join(random.choice("0123456789abcdef") for _ in range(4))
        if not NAME_RE.fullmatch(name):
            raise ClusterError(f"cluster name {name!r}: 1 to 8 lower-case letters and digits, starting with a letter")
        self.name, self.n, self.link = name, nodes, link
        self.state_root = os.path.abspath(state_root)
        super().__init__(os.path.join(self.state_root, name), cores=NODE_CPUS)
        self.outlive_parent = outlive_parent
        self.state = None

    # -- names ---------------------------------------------------------------
    def node_names(self):
        return [f"{self.name}n{i}" for i in range(1, self.n + 1)]

    def netns(self, node):
        return f"{node}-ns"

    def host_veth(self, node):
        return f"{self.name}-v{node[len(self.name) + 1:]}"

    @property
    def bridge(self):
        return f"{self.name}-br"

    # -- state ---------------------------------------------------------------
    def _save(self):
        tmp = os.path.join(self.folder, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, os.path.join(self.folder, "state.json"))

    def _created(self, kind, what):
        self.state["created"].append([kind, what])
        self._save()

    @classmethod
    def attach(cls, state_root, name):
        """The cluster `name` that an earlier `up` left running (for `down`, `env`, kill_node)."""
        folder = os.path.join(os.path.abspath(state_root), name)
        try:
            state = json.load(open(os.path.join(folder, "state.json")))
        except OSError:
            raise ClusterError(f"no cluster named {name} under {state_root}")
        c = cls.__new__(cls)
        c.name, c.n, c.link, c.state_root, c.folder = name, state["nodes"], state["link"], os.path.abspath(state_root), folder
        c.state, c.procs, c.cores, c.outlive_parent = state, {}, NODE_CPUS, True
        c.env = dict(os.environ, **state["env"])
        return c

    # -- up ------------------------------------------------------------------
    def __enter__(self):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def up(self):
        if os.path.lexists(self.folder):
            raise ClusterError(f"a cluster named {self.name} exists already ({self.folder}); "
                               f"`cluster.sh down {self.name}"
                               + ("" if self.state_root == DEFAULT_ROOT else f" --state {self.state_root}") + "` removes it")
        os.makedirs(self.state_root, exist_ok=True)
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the subnet choice and the names, against a concurrent up
            try:
                os.mkdir(self.folder, 0o755)
            except FileExistsError:
                raise ClusterError(f"a cluster named {self.name} exists already ({self.folder})")
            taken = [p for p in [f"/sys/class/net/{self.bridge}"] +
                     [f"/run/netns/{self.netns(n)}" for n in self.node_names()] if os.path.exists(p)]
            if taken:
                os.rmdir(self.folder)
                raise ClusterError(f"a cluster named {self.name} exists already ({taken[0]} is present)")
            self.state = {"name": self.name, "nodes": self.n, "link": self.link, "owner": os.getpid(),
                          "created": [], "daemons": {}, "env": {}}
            self._save()
            try:
                self._network()
            except BaseException:
                self.down()
                raise
        try:
            self._daemons()
        except BaseException:
            self.down()
            raise

    def _free_subnet(self):
        used = sh(["ip", "-4", "-o", "route", "show", "table", "all"]).stdout + sh(["ip", "-4", "-o", "addr"]).stdout
        nets = [ipaddress.ip_network(m, strict=False) for m in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)", used)]
        candidates = list(SUBNETS.subnets(new_prefix=24))
        random.shuffle(candidates)
        for net in candidates:
            if not any(net.overlaps(n) for n in nets if n.prefixlen >= 8):
                return net
        raise ClusterError(f"no free /24 left in {SUBNETS}")

    def _network(self):
        net = self._free_subnet()
        hosts = list(net.hosts())
        self.state["subnet"], self.state["controller"] = str(net), str(hosts[0])
        self.state["addresses"] = {node: str(hosts[9 + i]) for i, node in enumerate(self.node_names())}
        sh(["ip", "link", "add", self.bridge, "type", "bridge"])
        self._created("link", self.bridge)
        sh(["ip", "addr", "add", f"{hosts[0]}/{net.prefixlen}", "dev", self.bridge])
        sh(["ip", "link", "set", self.bridge, "up"])
        for node in self.node_names():
            ns, veth = self.netns(node), self.host_veth(node)
            sh(["ip", "netns", "add", ns])
            self._created("netns", ns)
            sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            self._created("link", veth)
            sh(["ip", "link", "set", veth, "master", self.bridge, "up"])
            sh(["ip", "-n", ns, "addr", "add", f"{self.state['addresses'][node]}/{net.prefixlen}", "dev", "eth0"])
            sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
            if self.link:
                for tc in (["tc"], ["tc", "-n", ns]):
                    dev = veth if len(tc) == 1 else "eth0"
                    r = sh(tc + ["qdisc", "add", "dev", dev, "root", "tbf", "rate", self.link, "burst", "1mb",
                                 "latency", "50ms"], check=False)
                    if r.returncode != 0:
                        raise ClusterError(f"tc refuses the link rate {self.link!r}: {' '.join(r.stderr.split())}")
        self._save()

    def _daemons(self):
        f = self.folder
        for sub in ("munge", "state", "spool", "run", "log", "nodes"):
            os.makedirs(os.path.join(f, sub), mode=0o700)
        net = self.state["subnet"]
        with open(f"{f}/hosts", "w") as hosts:
            hosts.write(f"127.0.0.1 localhost\n{self.state['controller']} {os.uname().nodename}\n")
            hosts.writelines(f"{a} {n}\n" for n, a in self.state["addresses"].items())
        nodes = [(n, n, a, NODE_CPUS, NODE_MEMORY_MB) for n, a in self.state["addresses"].items()]
        with open(f"{f}/slurm.conf", "w") as conf:
            conf.write(slurm_conf(f, nodes, ctld=(os.uname().nodename, self.state["controller"]),
                                  writer=f"tests/cluster/emulated.py: the emulated cluster {self.name}",
                                  cluster_name=self.name, per_node_files=True))
        # Open MPI: TCP over the cluster's subnet between nodes, shared memory within one.
        self.state["env"] = {"SLURM_CONF": f"{f}/slurm.conf", "OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,vader,tcp",
                             "OMPI_MCA_btl_tcp_if_include": net, "OMPI_MCA_oob_tcp_if_include": net}
        self.env.update(self.state["env"])
        with open(f"{f}/env.sh", "w") as e:
            e.write(f"# The emulated cluster {self.name}: source this to use it.\n")
            e.writelines(f"export {k}={v}\n" for k, v in self.state["env"].items())
        start_munged(self)
        self._daemon_started("munged")
        self._spawn("slurmctld", [DAEMONS["slurmctld"], "-D", "-i", "-f", f"{f}/slurm.conf"], self.outlive_parent)
        self._daemon_started("slurmctld")
        for node in self.node_names():
            scratch = f"{f}/nodes/{node}/tmp"
            os.makedirs(scratch)
            os.chmod(scratch, 0o1777)
            # nsenter, not `ip netns exec` (which remounts /sys, and slurmd then misses
            # /sys/fs/cgroup); a private /tmp and /etc/hosts in the node's mount namespace.
            self._spawn(f"slurmd-{node}", [
                "nsenter", f"--net=/run/netns/{self.netns(node)}", "unshare", "--uts", "--mount", "--propagation",
                "private", "sh", "-c", 'hostname "$1" && mount --bind "$2" /tmp && mount --bind "$3" /etc/hosts && '
                'shift 3 && exec "$@"', "sh", node, scratch, f"{f}/hosts",
                DAEMONS["slurmd"], "-D", "-N", node, "-f", f"{f}/slurm.conf"], self.outlive_parent)
            self._daemon_started(f"slurmd-{node}")
        self.wait_until(self._nodes_idle, 90, f"nodes {','.join(self.node_names())} to be idle")

    def _spawn(self, name, argv, outlive_parent=None):
        super()._spawn(name, argv, self.outlive_parent if outlive_parent is None else outlive_parent)

    def _daemon_started(self, name):
        pid = self.procs[name].pid
        self.state["daemons"][name] = [pid, start_time(pid)]
        self._save()

    def _nodes_idle(self):
        r = self.run(["sinfo", "-h", "-N", "-o", "%N %t"], check=False)
        states = dict(line.split() for line in r.stdout.splitlines() if len(line.split()) == 2)
        return r.returncode == 0 and all(states.get(n) == "idle" for n in self.node_names())

    # -- down ----------------------------------------------------------------
    def _alive(self, name):
        pid, start = self.state["daemons"].get(name, (None, None))
        return pid is not None and start is not None and start_time(pid) == start

    def _kill(self, pids, sig):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def down(self):
        """Stops what this cluster started and removes what it created, in reverse order."""
        if self.state is None:
            return
        if self._alive("slurmctld"):
            self.cancel_all(timeout=20)
        # The job's processes (slurmstepd, ranks) live in the nodes' namespaces.
        for node in self.node_names():
            self._kill(pids_in_netns(f"/run/netns/{self.netns(node)}"), signal.SIGKILL)
        for name in sorted(self.state["daemons"], key=lambda n: ("slurmd" not in n, n != "slurmctld")):
            if not self._alive(name):
                continue
            pid = self.state["daemons"][name][0]
            self._kill([pid], signal.SIGTERM)
            deadline = time.time() + 15
            while self._alive(name) and time.time() < deadline:
                p = self.procs.get(name)
                if p is not None:
                    p.poll()  # reaps our own child
                time.sleep(0.2)
            if self._alive(name):
                self._kill([pid], signal.SIGKILL)
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        for kind, what in reversed(self.state["created"]):
            if kind == "netns":
                self._kill(pids_in_netns(f"/run/netns/{what}"), signal.SIGKILL)
                sh(["ip", "netns", "del", what], check=False)
            elif kind == "link":
                sh(["ip", "link", "del", what], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.state = None

    @classmethod
    def reap_stale(cls, state_root):
        """Takes down the clusters under state_root whose owner (a test) is gone without taking them down."""
        if not os.path.isdir(state_root):
            return
        for name in os.listdir(state_root):
            try:
                c = cls.attach(state_root, name)
            except (ClusterError, ValueError):
                continue
            owner = c.state.get("owner")
            if c.state.get("detached") or (owner and os.path.exists(f"/proc/{owner}")):
                continue
            c.down()

    # -- faults, for node-loss tests ----------------------------------------
    def kill_node(self, node):
        """SIGKILL to every process in the node's network namespace: its slurmd, slurmstepd and ranks."""
        if node not in self.node_names():
            raise ClusterError(f"no node {node} in cluster {self.name}")
        path = f"/run/netns/{self.netns(node)}"
        pids = pids_in_netns(path)
        self._kill(pids, signal.SIGKILL)
        deadline = time.time() + 10  # until they are gone; our own children (its slurmd) are collected here
        while time.time() < deadline and pids_in_netns(path):
            for p in self.procs.values():
                p.poll()
            time.sleep(0.1)
        self.procs.pop(f"slurmd-{node}", None)  # gone on purpose: waits no longer watch it
        return pids

    def link_down(self, node):
        """Cuts the node off the network (its end of the link on the bridge goes down)."""
        if node not in self.node_names():
            raise ClusterError(f"no node {node} in cluster {self.name}")
        sh(["ip", "link", "set", self.host_veth(node), "down"])

    def link_up(self, node):
        sh(["ip", "link", "set", self.host_veth(node), "up"])
