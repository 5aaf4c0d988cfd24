#!/usr/bin/env python3
"""The command line of the emulated cluster (cluster.sh; emulated.py says what it builds).
Usage:
  cluster.sh up N [--link RATE] [--name NAME] [--state DIR]
  cluster.sh down NAME [--state DIR]
  cluster.sh env NAME [--state DIR]
  cluster.sh list [--state DIR]
RATE is a tc rate (default 1gbit; `none` or `unshaped`: no shaping). DIR defaults to /run/sophia-kokkos-cluster.
Errors: one line on stderr, exit 1, nothing left half-created."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulated import DEFAULT_ROOT, ClusterError, EmulatedCluster, SkipTest  # noqa: E402


class Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.exit(f"cluster.sh: {message} (see cluster.sh --help)")


def main():
    p = Parser(prog="cluster.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    up = sub.add_parser("up")
    up.add_argument("nodes")
    up.add_argument("--link", default="1gbit")
    up.add_argument("--name")
    for name in ("down", "env"):
        sub.add_parser(name).add_argument("name")
    sub.add_parser("list")
    for s in sub.choices.values():
        s.add_argument("--state", default=DEFAULT_ROOT)
    a = p.parse_args()
    try:
        if a.command == "up":
            try:
                nodes = int(a.nodes)
            except ValueError:
                raise ClusterError(f"the number of nodes must be an integer from 1 to 99, not {a.nodes!r}")
            if not 1 <= nodes <= 99:
                raise ClusterError(f"the number of nodes must be 1 to 99, not {nodes}")
            if os.geteuid() != 0:
                raise ClusterError("needs root: network namespaces, veth links and tc need root")
            c = EmulatedCluster(a.state, nodes, None if a.link in ("none", "unshaped") else a.link, a.name,
                                outlive_parent=True)
            try:
                c.up()
                c.state["detached"] = True  # its daemons outlive this command
                c._save()
            except KeyboardInterrupt:
                raise ClusterError("interrupted; nothing is left")
            print(f"cluster {c.name}: {nodes} node(s) {' '.join(c.node_names())} on {c.state['subnet']}, "
                  f"links {a.link}\n  source {c.folder}/env.sh   # then sbatch, srun, sinfo as usual\n"
                  f"  tests/cluster/cluster.sh down {c.name}" + ("" if a.state == DEFAULT_ROOT else f" --state {a.state}"))
        elif a.command == "down":
            EmulatedCluster.attach(a.state, a.name).down()
            print(f"cluster {a.name}: down")
        elif a.command == "env":
            print(open(os.path.join(EmulatedCluster.attach(a.state, a.name).folder, "env.sh")).read(), end="")
        elif a.command == "list":
            if os.path.isdir(a.state):
                for name in sorted(os.listdir(a.state)):
                    try:
                        c = EmulatedCluster.attach(a.state, name)
                        print(f"{name}: {c.n} node(s) on {c.state.get('subnet')}, links {c.link}")
                    except ClusterError:
                        pass
    except (ClusterError, SkipTest) as e:
        sys.exit(f"cluster.sh {a.command}: {e}")


if __name__ == "__main__":
    main()
