#!/usr/bin/python3
"""The scale-out study on emulated clusters, measured end to end.

For each link rate it brings up an emulated cluster (tests/cluster/emulated.py),
then
  1. times allreduces of 4 KiB to 64 MiB across 2 nodes (`sophia-kokkos
     bench --allreduce`), blocking (MPI_Allreduce) and non-blocking
     (MPI_Iallreduce, as the overlapped gradient buckets call it), and fits the
     alpha-beta model to each (bench/fit_alpha_beta.py);
  2. runs jobs/scaling.sbatch (jobs/scaling_sweep.sh through sbatch), strong and
     weak, on the given node counts with 1 rank per node;
  3. takes the cluster down (also when a step fails).
On one of the links it also runs 2 nodes x 2 ranks three ways: one blocking
MPI_Allreduce by Open MPI's flat `coll tuned`, the same by its hierarchical
`coll han`, and the program's bucketed non-blocking reduction
(parallel.reduction = overlap).

Per point it predicts the exposed communication per step (the program's
t_comm_wait) from the model fitted to the calls the reduction makes (the
non-blocking fit for parallel.reduction = overlap, the blocking one for
blocking) and sets it against the measurement, and
writes OUT_DIR/study.csv, OUT_DIR/study.md and the plots (docs/scaling.md).

Usage (as root; about 6 minutes for the defaults on 2 shared cores):
  tests/cluster/scaling_study.py OUT_DIR [--links 100mbit,1gbit,none] [--nodes 1,2,3,4]
      [--steps 8] [--warmup 3] [--compare-link 1gbit] [--exe PATH] [--data DIR] [--state DIR]
A link rate is a tc rate (100mbit, 1gbit, 2.5gbit, 500kbit, ...) or `none` (also
`unshaped`): the veth links as fast as the machine moves bytes.
Bad input: one line on stderr, exit 1, nothing started."""
import argparse
import csv
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.abspath(os.path.join(here, "..", ".."))
sys.path.insert(0, os.path.join(repo, "bench"))
from comm_model import gpt2_parameters, ring_s as ring_allreduce_s  # noqa: E402
from fit_alpha_beta import fit, read_bench  # noqa: E402

sys.path.insert(0, here)
from emulated import ClusterError, EmulatedCluster  # noqa: E402

RATE_RE = re.compile(r"(\d+(\.\d+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)", re.I)
UNSHAPED = ("none", "unshaped")
# The tiny preset (src/core/config.cpp): vocabulary, block size, layers, heads, channels.
TINY = dict(vocab=50257, block=64, n_layer=2, n_embd=64)
# Ranks yield the core while they wait in MPI: the nodes share 2 cores, and a
# rank polling for a message would otherwise hold a core its peer needs.
MPI_ENV = dict(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_mpi_yield_when_idle="1")
# Open MPI's collective component for MPI_Allreduce: the flat `tuned`, or the
# hierarchical `han` (intra-node reduce, inter-node allreduce of one rank per
# node, intra-node broadcast), which only wins the selection with a priority
# above tuned's 30.
COLL_FLAT = dict(OMPI_MCA_coll="^han")
COLL_HAN = dict(OMPI_MCA_coll_han_priority="100")
# The ring algorithm, for MPI_Allreduce (coll tuned) and for MPI_Iallreduce
# (coll libnbc, the overlapped buckets). Without it Open MPI 4.1's libnbc takes a
# binomial tree (reduce to rank 0, then broadcast, whole buffers) for every
# in-place Iallreduce, whatever its size.
RING = dict(OMPI_MCA_coll_tuned_use_dynamic_rules="1", OMPI_MCA_coll_tuned_allreduce_algorithm="4",
            OMPI_MCA_coll_libnbc_iallreduce_algorithm="1")
# The 2 nodes x 2 ranks training runs: parallel.reduction and whether the ring is forced.
# flat: one MPI_Allreduce after the backward pass, Open MPI's own choice of algorithm.
COMPARED = {"flat": ("blocking", False), "bucketed": ("overlap", False), "bucketed-ring": ("overlap", True)}


class BadInput(Exception):
    pass


# -- input ------------------------------------------------------------------
def parse_links(text):
    links = [s.strip() for s in text.split(",") if s.strip()]
    if not links:
        raise BadInput("--links is empty: give tc rates such as 100mbit,1gbit,none")
    for link in links:
        if link.lower() not in UNSHAPED and not RATE_RE.fullmatch(link):
            raise BadInput(f"unknown link rate {link!r}: a tc rate such as 100mbit, 1gbit, 2.5gbit, or none (unshaped)")
        if link.lower() not in UNSHAPED and float(RATE_RE.fullmatch(link).group(1)) <= 0:
            raise BadInput(f"link rate {link!r} is not positive")
    if len(set(l.lower() for l in links)) != len(links):
        raise BadInput(f"--links names a rate twice: {text}")
    return links


def parse_nodes(text):
    try:
        nodes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise BadInput(f"--nodes must be a comma-separated list of node counts, not {text!r}")
    if not nodes:
        raise BadInput("--nodes is empty")
    bad = [n for n in nodes if not 1 <= n <= 16]
    if bad:
        raise BadInput(f"--nodes holds {bad[0]}: node counts must be 1 to 16")
    if len(set(nodes)) != len(nodes):
        raise BadInput(f"--nodes names a count twice: {text}")
    return sorted(nodes)


# -- the model --------------------------------------------------------------
def buckets(n_params, bucket_bytes):
    """The reduction's buckets as (begin, end) coordinates, cut from the end of the flat buffer."""
    per = max(1, int(bucket_bytes // 4))
    out, end = [], n_params
    while end > 0:
        begin = max(0, end - per)
        out.append((begin, end))
        end = begin
    return out


def binomial_allreduce_s(alpha, beta, ranks, nbytes, per_node=1):
    """libnbc's binomial allreduce: a reduce to rank 0 and a broadcast, ceil(log2 R) rounds each of the whole
    buffer; with per_node (a power of 2) consecutive ranks on a node, the rounds within a node cost nothing here."""
    nodes = max(1, ranks // per_node)
    return 0.0 if ranks < 2 else 2 * math.ceil(math.log2(nodes)) * (alpha + nbytes * beta)


def predict_exposed_s(alpha, beta, ranks, n_params, n_embedding, bucket_bytes, overlap_s, reduction="overlap",
                      allreduce=ring_allreduce_s):
    """Predicted wait for the gradient sum after the backward pass (t_comm_wait).

    blocking: one allreduce of every gradient after the backward pass, all exposed.
    overlap: buckets cut from the end of the buffer; a bucket that holds no
    embedding coordinate is final before the backward pass ends and its allreduce
    can run behind the rest of it (at most overlap_s of it hides); buckets that
    reach into the embeddings (offset 0 up, final only at the end) start at the
    end and are waited for in full. Each bucket is its own allreduce (2 (R-1)
    latencies each)."""
    if ranks < 2:
        return 0.0
    if reduction == "blocking":
        return allreduce(alpha, beta, ranks, 4 * n_params)
    early = late = 0.0
    for begin, end in buckets(n_params, bucket_bytes):
        t = allreduce(alpha, beta, ranks, 4 * (end - begin))
        if begin < n_embedding:
            late += t
        else:
            early += t
    return late + max(0.0, early - overlap_s)


# -- measurements -----------------------------------------------------------
def timed_steps(run_dir, warmup):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    steps = [r for r in records if r.get("type") == "step" and r["step"] > warmup]
    if not steps:
        raise RuntimeError(f"{run_dir}: no timed steps after {warmup} warm-up steps")
    return steps


def summarise(run_dir, warmup):
    """Medians over the timed steps (the machine is shared: medians, not means)."""
    steps = timed_steps(run_dir, warmup)
    med = lambda key: statistics.median(r[key] for r in steps)  # noqa: E731
    tokens = steps[0]["tokens_per_s"] * steps[0]["step_time"]
    row = {k: med(k) for k in ("step_time", "t_forward", "t_backward", "t_comm_wait", "t_optimizer", "t_data")}
    row["compute"] = row["t_forward"] + row["t_backward"] + row["t_optimizer"]
    row["tokens_per_s"] = tokens / row["step_time"]
    row["tokens_per_step"] = tokens
    refreshes = [r for r in steps if r.get("t_hessian", 0) > 0]
    row["t_hessian"] = statistics.median(r["t_hessian"] for r in refreshes) if refreshes else 0.0
    return row


class Study:
    def __init__(self, args):
        self.a = args
        self.out = os.path.abspath(args.out_dir)
        self.t0 = time.time()
        self.exe = os.path.abspath(args.exe)
        self.data = os.path.abspath(args.data)
        self.deck = os.path.join(repo, "configs", "tiny.toml")
        self.max_nodes = max(max(args.nodes), 2)
        self.strong_batch = args.strong_batch or math.lcm(*args.nodes)
        self.params, self.embedding = gpt2_parameters(**TINY)
        self.sets = [f"data.train_data={self.data}/train_*.bin", f"train.seq_len={args.seq_len}",
                     f"optimizer.hessian_interval={args.hessian_interval}", "train.log_interval=1",
                     f"parallel.bucket_mb={args.bucket_mb}"]

    def log(self, text):
        print(f"[{time.time() - self.t0:6.0f} s] {text}", flush=True)

    def env(self, cluster, **extra):
        return dict(cluster.env, **MPI_ENV, SK_EXE=self.exe, SK_PYTHON="/usr/bin/python3",
                    SK_SWEEP=os.path.join(repo, "jobs", "scaling_sweep.sh"), **extra)

    def job(self, cluster, argv, env, what):
        job = cluster.sbatch(["--time=20"] + argv, env=env, cwd=repo)
        fields = cluster.wait_for(job, 900)
        if fields.get("JobState") != "COMPLETED":
            out = fields.get("StdOut", "")
            tail = open(out).read()[-2000:] if os.path.exists(out) else ""
            raise RuntimeError(f"{what}: job {job} ended {fields.get('JobState')} {fields.get('ExitCode')}\n{tail}")
        return job

    def bench(self, cluster, folder, per_node, coll, name, flags=""):
        out = os.path.join(folder, f"{name}.out")
        self.job(cluster, ["--nodes=2", f"--ntasks-per-node={per_node}", f"--output={out}", "--wrap",
                           f"srun --kill-on-bad-exit=1 {self.exe} bench --allreduce --warmup 1 "
                           f"--iters {self.a.bench_iters} {flags}"],
                 self.env(cluster, **coll), f"allreduce benchmark {name}")
        ranks, nodes, rows = read_bench(out)
        alpha, beta, _ = fit(ranks, rows, self.a.fit_min_bytes)
        return dict(ranks=ranks, nodes=nodes, alpha_s=alpha, beta_s_per_byte=beta, rows=rows)

    def sweep(self, cluster, folder, nodes_per_job, per_node, ranks, modes, extra_sets=(), coll=dict(COLL_FLAT, **RING)):
        env = self.env(cluster, **coll, SK_RANKS=" ".join(map(str, ranks)), SK_MODES=" ".join(modes),
                       SK_STEPS=str(self.a.steps), SK_WARMUP=str(self.a.warmup),
                       SK_STRONG_BATCH=str(self.strong_batch), SK_WEAK_BATCH=str(self.a.weak_batch),
                       SK_SET=" ".join(self.sets + list(extra_sets)), SK_RUN_ROOT=folder)
        job = self.job(cluster, [f"--nodes={nodes_per_job}", f"--ntasks-per-node={per_node}",
                                 f"--output={folder}/sweep-%j.out", os.path.join(repo, "jobs", "scaling.sbatch"),
                                 self.deck], env, f"scaling sweep in {folder}")
        return os.path.join(folder, f"scaling-{job}")

    def run_link(self, link):
        folder = os.path.join(self.out, link_label(link))
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.log(f"link {link}: bringing up {self.max_nodes} nodes")
        with EmulatedCluster(self.a.state, self.max_nodes, None if link.lower() in UNSHAPED else link) as c:
            self.log(f"link {link}: cluster {c.name} up; allreduce benchmark across 2 nodes")
            self.bench(c, folder, 1, dict(COLL_FLAT, **RING), "allreduce-2x1")
            self.bench(c, folder, 1, dict(COLL_FLAT, **RING), "allreduce-2x1-nonblocking", "--nonblocking")
            self.log(f"link {link}: strong and weak sweeps over {self.a.nodes} node(s)")
            os.rename(self.sweep(c, folder, self.max_nodes, 1, self.a.nodes, ["strong", "weak"]),
                      os.path.join(folder, "sweep"))
            if link == self.a.compare_link:
                self.compare(c, folder)
        self.log(f"link {link}: cluster down")

    def compare(self, cluster, folder):
        """2 nodes x 2 ranks: flat and hierarchical MPI_Allreduce, and the bucketed reduction.
        Open MPI 4.1's han crashes on in-place allreduces (the program's), so the
        library comparison is out of place, and training steps run flat only."""
        for name, coll in (("flat", COLL_FLAT), ("han", COLL_HAN)):
            self.log(f"2x2: allreduce benchmark, coll {name}")
            self.bench(cluster, folder, 2, coll, f"allreduce-2x2-{name}", "--out-of-place")
        for name, (red, ring) in COMPARED.items():
            self.log(f"2x2: training steps, {name} ({red})")
            sub = os.path.join(folder, f"compare-{name}")
            os.makedirs(sub)
            os.rename(self.sweep(cluster, sub, 2, 2, [4], ["strong"], [f"parallel.reduction={red}"],
                                 dict(COLL_FLAT, **(RING if ring else {}))), os.path.join(sub, "sweep"))

    def collect(self, link):
        """What run_link measured, read back from its folder."""
        folder = os.path.join(self.out, link_label(link))
        fits = {}
        for calls, name in (("blocking", "allreduce-2x1"), ("nonblocking", "allreduce-2x1-nonblocking")):
            ranks, nodes, rows = read_bench(os.path.join(folder, f"{name}.out"))
            alpha, beta, _ = fit(ranks, rows, self.a.fit_min_bytes)
            fits[calls] = dict(ranks=ranks, nodes=nodes, alpha_s=alpha, beta_s_per_byte=beta, rows=rows)
        with open(os.path.join(folder, "fit.json"), "w") as f:
            json.dump({c: {k: v for k, v in f_.items() if k != "rows"} for c, f_ in fits.items()}, f, indent=2)
        # The sweeps reduce with overlapped buckets (MPI_Iallreduce): their fit is the non-blocking one.
        result = {"link": link_label(link), "fit": fits["nonblocking"], "fit_blocking": fits["blocking"],
                  "sweep": os.path.join(folder, "sweep")}
        if not os.path.isdir(os.path.join(folder, "compare-flat")):
            return result
        out = {}
        for name in ("flat", "han"):
            r_, n_, rows_ = read_bench(os.path.join(folder, f"allreduce-2x2-{name}.out"))
            out[f"bench_{name}"] = dict(rows=rows_)
        for name, (red, ring) in COMPARED.items():
            row = dict(summarise(os.path.join(folder, f"compare-{name}", "sweep", "strong-4"), self.a.warmup),
                       reduction=red)
            # Open MPI's default for the in-place Iallreduce is libnbc's binomial tree; the ring where told.
            binomial = red == "overlap" and not ring
            row["algorithm"] = "binomial" if binomial else "ring"
            algorithm = (lambda a, b, r, n: binomial_allreduce_s(a, b, r, n, 2)) if binomial else ring_allreduce_s
            f_ = result["fit" if red == "overlap" else "fit_blocking"]
            row["predicted"] = predict_exposed_s(f_["alpha_s"], f_["beta_s_per_byte"], 4, self.params, self.embedding,
                                                 self.a.bucket_mb * 1e6, row["t_backward"], red, algorithm)
            out[name] = row
        result["compare"] = out
        return result

    # -- tables and plots ---------------------------------------------------
    def rows(self, results):
        rows = []
        for res in results:
            fit_ = res["fit"]
            for d in sorted(os.listdir(res["sweep"])):
                point_file = os.path.join(res["sweep"], d, "point.json")
                if not os.path.isfile(point_file):
                    continue
                point = json.load(open(point_file))
                row = dict(link=res["link"], mode=point["mode"], nodes=point["nodes"], ranks=point["ranks"],
                           batch=point["batch_size"], **summarise(os.path.join(res["sweep"], d), self.a.warmup))
                r = point["ranks"]
                row["predicted_comm_wait"] = predict_exposed_s(fit_["alpha_s"], fit_["beta_s_per_byte"], r, self.params,
                                                               self.embedding, self.a.bucket_mb * 1e6, row["t_backward"])
                full = ring_allreduce_s(fit_["alpha_s"], fit_["beta_s_per_byte"], r, 4 * self.params)
                row["predicted_allreduce"] = full
                row["error"] = ((row["predicted_comm_wait"] - row["t_comm_wait"]) / row["t_comm_wait"]
                                if r > 1 and row["t_comm_wait"] > 0 else float("nan"))
                row["compute_per_rank"] = row["compute"]
                row["hessian_extra_predicted"] = full / self.a.hessian_interval
                rows.append(row)
        # The same model with the bandwidth taken from one training point (2 nodes, strong)
        # instead of the microbenchmark: how well the model's shape predicts the others.
        for row in rows:
            ref = [r for r in rows if r["link"] == row["link"] and r["mode"] == "strong" and r["ranks"] == 2]
            scale = ref[0]["t_comm_wait"] / ref[0]["predicted_comm_wait"] if ref and ref[0]["predicted_comm_wait"] else 1
            row["calibrated_comm_wait"] = row["predicted_comm_wait"] * scale
            # The share of the whole reduction (the calibrated model's) hidden behind the backward pass.
            full = row["predicted_allreduce"] * scale
            row["overlap_efficiency"] = max(0.0, 1 - row["t_comm_wait"] / full) if full > 0 else float("nan")
            row["calibrated_error"] = ((row["calibrated_comm_wait"] - row["t_comm_wait"]) / row["t_comm_wait"]
                                       if row["ranks"] > 1 and row["t_comm_wait"] > 0 else float("nan"))
        order = {lbl: i for i, lbl in enumerate(link_label(l) for l in self.a.links)}
        rows.sort(key=lambda r: (order[r["link"]], r["mode"], r["nodes"]))
        for row in rows:
            base = next(b for b in rows if b["link"] == row["link"] and b["mode"] == row["mode"] and b["ranks"] == 1) \
                if any(b["link"] == row["link"] and b["mode"] == row["mode"] and b["ranks"] == 1 for b in rows) else None
            row["speedup"] = row["tokens_per_s"] / base["tokens_per_s"] if base else float("nan")
        return rows

    def write(self, results):
        rows = self.rows(results)
        cols = ["link", "mode", "nodes", "ranks", "batch", "step_time", "compute_per_rank", "t_forward", "t_backward",
                "t_optimizer", "t_comm_wait", "predicted_comm_wait", "error", "calibrated_comm_wait", "calibrated_error",
                "predicted_allreduce",
                "overlap_efficiency", "t_hessian", "hessian_extra_predicted", "tokens_per_s", "speedup"]
        with open(os.path.join(self.out, "study.csv"), "w") as f:
            w = csv.DictWriter(f, cols, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        md = [f"Medians over steps {self.a.warmup + 1}..{self.a.steps} of each run; times in ms.", "",
              "| link | calls | fitted alpha | fitted bandwidth | worst fit error |", "|---|---|---|---|---|"]
        for res in results:
            for calls, f_ in (("MPI_Iallreduce (predictions)", res["fit"]), ("MPI_Allreduce", res["fit_blocking"])):
                a, b = f_["alpha_s"], f_["beta_s_per_byte"]
                worst = max(abs(ring_allreduce_s(a, b, f_["ranks"], n) - t) / t for n, t in f_["rows"]
                            if n >= self.a.fit_min_bytes)
                md.append(f"| {res['link']} | {calls} | {a * 1e6:.0f} us | {8 / b / 1e9:.3f} Gbit/s | "
                          f"{100 * worst:.0f}% |")
        md += ["", "| link | mode | nodes | batch | step | compute per rank | exposed comm measured | predicted | error "
               "| calibrated at 2 nodes: error | overlap eff. | tokens/s | speed-up |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            err = "" if math.isnan(r["error"]) else f"{100 * r['error']:+.0f}%"
            cal = "" if math.isnan(r["calibrated_error"]) else f"{100 * r['calibrated_error']:+.0f}%"
            eff = "" if math.isnan(r["overlap_efficiency"]) else f"{r['overlap_efficiency']:.2f}"
            md.append(f"| {r['link']} | {r['mode']} | {r['nodes']} | {r['batch']} | {1e3 * r['step_time']:.0f} | "
                      f"{1e3 * r['compute_per_rank']:.0f} | {1e3 * r['t_comm_wait']:.1f} | "
                      f"{1e3 * r['predicted_comm_wait']:.1f} | {err} | {cal} | {eff} | {r['tokens_per_s']:.0f} | "
                      f"{r['speedup']:.2f} |")
        for res in results:
            cmp_ = res.get("compare")
            if not cmp_:
                continue
            md += ["", f"2 nodes x 2 ranks, link {res['link']}: MPI_Allreduce (bench --allreduce, median)", "",
                   "| bytes | flat (tuned) ms | han ms |", "|---|---|---|"]
            han = dict(cmp_["bench_han"]["rows"])
            for n, t in cmp_["bench_flat"]["rows"]:
                if n >= 1 << 20:
                    md.append(f"| {n} | {t * 1e3:.1f} | {han.get(n, float('nan')) * 1e3:.1f} |")
            md += ["", "Training steps (batch {}):".format(self.strong_batch), "",
                   "| reduction | parallel.reduction | algorithm modelled | step | compute per rank | exposed comm "
                   "| predicted | tokens/s |", "|---|---|---|---|---|---|---|---|"]
            for name in COMPARED:
                r = cmp_[name]
                md.append(f"| {name} | {r['reduction']} | {r['algorithm']} | {1e3 * r['step_time']:.0f} | "
                          f"{1e3 * r['compute']:.0f} | {1e3 * r['t_comm_wait']:.1f} | {1e3 * r['predicted']:.1f} | "
                          f"{r['tokens_per_s']:.0f} |")
        with open(os.path.join(self.out, "study.md"), "w") as f:
            f.write("\n".join(md) + "\n")
        self.plot(rows)
        print("\n".join(md))
        return rows

    def plot(self, rows):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        links = list(dict.fromkeys(r["link"] for r in rows))
        for mode in ("strong", "weak"):
            fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
            for link in links:
                pts = [r for r in rows if r["link"] == link and r["mode"] == mode]
                n = [r["nodes"] for r in pts]
                line, = axes[0].plot(n, [r["tokens_per_s"] for r in pts], "o-", label=link)
                axes[1].plot(n, [1e3 * r["t_comm_wait"] for r in pts], "o-", color=line.get_color(), label=f"{link} measured")
                axes[1].plot(n, [1e3 * r["predicted_comm_wait"] for r in pts], "x--", color=line.get_color(),
                             label=f"{link} predicted")
                axes[2].plot(n, [1e3 * r["step_time"] for r in pts], "o-", color=line.get_color(), label=f"{link} step")
                axes[2].plot(n, [1e3 * r["compute_per_rank"] for r in pts], "s:", color=line.get_color(),
                             label=f"{link} compute per rank")
            axes[0].set_ylabel("tokens/s")
            axes[1].set_ylabel("exposed communication per step (ms)")
            axes[1].set_yscale("symlog", linthresh=1)
            axes[2].set_ylabel("step and compute per rank (ms)")
            axes[2].set_yscale("log")
            for ax in axes:
                ax.set_xlabel("nodes (1 rank each)")
                ax.set_xticks(self.a.nodes)
                ax.grid(alpha=0.3)
                ax.legend(fontsize=6)
            fig.suptitle(f"{mode} scaling, tiny GPT-2, emulated cluster on 2 shared cores")
            fig.tight_layout()
            fig.savefig(os.path.join(self.out, f"{mode}.png"), dpi=70)
            plt.close(fig)


def link_label(link):
    return "unshaped" if link.lower() in UNSHAPED else link.lower()


def parse_args(argv):
    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise BadInput(message)
    p = Parser(prog="scaling_study.py", description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    p.add_argument("--links", default="100mbit,1gbit,none")
    p.add_argument("--nodes", default="1,2,3,4")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--strong-batch", type=int, default=0, help="global batch of the strong sweep (default: lcm of --nodes)")
    p.add_argument("--weak-batch", type=int, default=3, help="sequences per rank of the weak sweep")
    p.add_argument("--hessian-interval", type=int, default=4)
    p.add_argument("--bucket-mb", type=float, default=25.0)
    p.add_argument("--bench-iters", type=int, default=5)
    p.add_argument("--fit-min-bytes", type=int, default=4 << 20,
                   help="fit alpha-beta to the message sizes of this many bytes or more (the links' tbf burst is 1 MiB)")
    p.add_argument("--compare-link", default="1gbit", help="the link of the 2x2 comparison (empty: none)")
    p.add_argument("--exe", default=os.environ.get("SK_EXE", os.path.join(repo, "build", "sophia-kokkos")))
    p.add_argument("--data", default=os.path.join(repo, "data", "brown_shards"))
    p.add_argument("--state", default="/run/sophia-kokkos-cluster", help="the clusters' state folder (not under /tmp)")
    p.add_argument("--tables-only", action="store_true", help="no clusters: the tables and plots again from OUT_DIR")
    a = p.parse_args(argv)
    a.links, a.nodes = parse_links(a.links), parse_nodes(a.nodes)
    if a.compare_link and a.compare_link not in a.links:
        raise BadInput(f"--compare-link {a.compare_link} is not one of --links {','.join(a.links)}")
    if a.warmup < 0 or a.steps <= a.warmup:
        raise BadInput(f"--steps {a.steps} must exceed --warmup {a.warmup} (and --warmup be 0 or more)")
    for name in ("seq_len", "weak_batch", "hessian_interval", "bench_iters"):
        if getattr(a, name) < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be 1 or more")
    if a.strong_batch < 0 or a.bucket_mb <= 0:
        raise BadInput("--strong-batch must be positive and --bucket-mb above 0")
    if a.strong_batch and any(a.strong_batch % n for n in a.nodes):
        raise BadInput(f"--strong-batch {a.strong_batch} is not divisible by every node count of --nodes")
    state = os.path.realpath(a.state)
    if state == "/tmp" or state.startswith("/tmp/"):
        raise BadInput(f"--state {a.state} is under /tmp, which every node replaces by its own")
    if not (os.path.isfile(a.exe) and os.access(a.exe, os.X_OK)):
        raise BadInput(f"sophia-kokkos not found at {a.exe}: give --exe or SK_EXE, or build it")
    if not any(f.startswith("train_") for f in (os.listdir(a.data) if os.path.isdir(a.data) else [])):
        raise BadInput(f"no training shards (train_*.bin) in {a.data}: give --data or run scripts/setup.sh")
    return a


def main(argv):
    try:
        args = parse_args(argv)
        if os.geteuid() != 0 and not args.tables_only:
            raise BadInput("needs root: it starts an emulated cluster per link rate (network namespaces, tc)")
    except BadInput as e:
        print(f"scaling_study.py: error: {e}", file=sys.stderr)
        return 1
    study = Study(args)
    os.makedirs(study.out, exist_ok=True)
    try:
        for link in [] if args.tables_only else args.links:
            study.run_link(link)
        results = [study.collect(link) for link in args.links]
    except (RuntimeError, OSError, ClusterError) as e:
        print(f"scaling_study.py: error: {e}", file=sys.stderr)
        return 1
    study.write(results)
    study.log(f"wrote {study.out}/study.csv, study.md, strong.png, weak.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
