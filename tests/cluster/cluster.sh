#!/bin/sh
# An emulated multi-node Slurm cluster on this machine (tests/cluster/emulated.py;
# docs/cluster.md). Needs root.
#   cluster.sh up N [--link RATE] [--name NAME] [--state DIR]   start N nodes; prints the name and env file
#   cluster.sh down NAME [--state DIR]                          stop and remove it
#   cluster.sh env NAME [--state DIR]                           the exports that point Slurm and Open MPI at it
#   cluster.sh list [--state DIR]
exec "${SK_PYTHON:-/usr/bin/python3}" "$(dirname "$0")/cluster_cli.py" "$@"
