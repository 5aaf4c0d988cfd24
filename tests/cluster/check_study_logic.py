#!/usr/bin/env python3
"""The logic of tests/cluster/scaling_study.py without a cluster: the GPT-2
parameter count, the allreduce and exposed-communication predictions against
hand-computed cases, the alpha-beta fit above a size threshold, and the bad
input it refuses (one line, exit 1, before anything starts).
Usage: check_study_logic.py"""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import scaling_study as s  # noqa: E402


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


# GPT-2 small has 124,439,808 parameters (bench/comm_model.py); the tiny preset:
# 50257*64 + 64*64 embeddings, 2 layers of 12*64^2 + 13*64, ln_f 2*64.
assert s.gpt2_parameters(50257, 1024, 12, 768)[0] == 124_439_808
assert s.gpt2_parameters(**s.TINY) == (50257 * 64 + 64 * 64 + 2 * (12 * 64 * 64 + 13 * 64) + 128, 50257 * 64 + 64 * 64)

# Ring: 2 latencies and 2 (R-1)/R of the bytes; one rank sends nothing.
assert close(s.ring_allreduce_s(1e-5, 1e-8, 4, 1e6), 6e-5 + 1.5e6 * 1e-8)
assert s.ring_allreduce_s(1e-5, 1e-8, 1, 1e6) == 0.0
# Binomial: reduce and broadcast, ceil(log2 R) rounds of the whole buffer each;
# 2 ranks per node: only the rounds between nodes count.
assert close(s.binomial_allreduce_s(1e-3, 1e-6, 3, 1000), 4 * (1e-3 + 1e-3))
assert close(s.binomial_allreduce_s(1e-3, 1e-6, 4, 1000, per_node=2), 2 * (1e-3 + 1e-3))

# Buckets of 300 coordinates cut from the end of 1000: [700,1000) [400,700) [100,400) [0,100).
assert s.buckets(1000, 1200) == [(700, 1000), (400, 700), (100, 400), (0, 100)]
# Embeddings [0,400): the last two buckets start after the backward pass and are
# waited for in full; the first two (0.0032 s each on 2 ranks at alpha 1 ms, beta
# 1 us/byte) hide behind 0.005 s of backward, 0.0014 s of them left.
alpha, beta = 1e-3, 1e-6
t300, t100 = 2e-3 + 1200e-6, 2e-3 + 400e-6
exposed = s.predict_exposed_s(alpha, beta, 2, 1000, 400, 1200, 0.005)
assert close(exposed, t300 + t100 + (2 * t300 - 0.005)), exposed
assert close(s.predict_exposed_s(alpha, beta, 2, 1000, 400, 1200, 1.0), t300 + t100)
assert close(s.predict_exposed_s(alpha, beta, 2, 1000, 400, 1200, 0.0, "blocking"), 2e-3 + 4000e-6)
assert s.predict_exposed_s(alpha, beta, 1, 1000, 400, 1200, 0.0) == 0.0

# The fit above --fit-min-bytes: small sizes that a token bucket lets through
# fast do not pull the bandwidth; a negative intercept gives alpha 0.
R, a0, b0 = 2, 20e-6, 1 / 0.1e9
rows = [(4096 * 4**i, 2 * (R - 1) * a0 + 2 * (R - 1) / R * 4096 * 4**i * b0) for i in range(8)]
burst = [(n, t / 50 if n < 4 << 20 else t) for n, t in rows]
a, b, _ = s.fit(R, burst, 4 << 20)
assert close(b, b0, 1e-6) and abs(a - a0) < 1e-9, (a, b)
a, b, _ = s.fit(R, [(n, t - 1e-3) for n, t in rows], 4 << 20)
assert a == 0.0 and b > 0, (a, b)

# Bad input: one line naming the problem, exit 1.
study = os.path.join(here, "scaling_study.py")
for args, message in ((["--links", "100mbit,fastest"], "unknown link rate 'fastest'"),
                      (["--links", "100mbit,0mbit"], "is not positive"),
                      (["--links", ""], "--links is empty"),
                      (["--nodes", "1,0,2"], "node counts must be 1 to 16"),
                      (["--nodes", "1,two"], "comma-separated list"),
                      (["--steps", "3", "--warmup", "3"], "must exceed --warmup"),
                      (["--compare-link", "10gbit"], "is not one of --links"),
                      (["--strong-batch", "5"], "not divisible"),
                      (["--state", "/tmp/clusters"], "under /tmp"),
                      (["--exe", "/nonexistent/sophia-kokkos"], "sophia-kokkos not found")):
    r = subprocess.run([sys.executable, study, os.path.join(here, "unused-out"), *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r)
    assert not os.path.exists(os.path.join(here, "unused-out")), "a refused study created its output folder"
print("ok: parameter counts, ring/binomial/bucketed predictions, the thresholded fit and 10 bad inputs")
