#!/usr/bin/python3
"""The linear layers' paths side by side (issue #23): `coordtok bench
--linear ROWS` (CoordTok-L's decoder shapes, 24 distinct weight matrices
each) for each COORDTOK_LINEAR path, alternating paths round by round in one
run so that a noisy machine slows them alike; prints each path's best
GFLOP/s, its share of the sgemm ceiling measured in the same process, and
its ratio to the first path.

    /usr/bin/python3 tests/bench/linear-paths.py [--build build] [--set avx2]
        [--rows 12,256,4096] [--paths own,onednn,blas] [--rounds 3] [--threads 2]

--set avx2 on an AVX-512 machine runs the AVX2 code throughout: the engine's
kernels (COORDTOK_CPU), OpenBLAS's Haswell kernels (OPENBLAS_CORETYPE) and
oneDNN (the engine limits it to the set's ISA).
"""
import argparse
import json
import os
import subprocess
import sys

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--build", default="build")
ap.add_argument("--set", default=None, help="kernel set (COORDTOK_CPU)")
ap.add_argument("--rows", default="12,256,4096")
ap.add_argument("--paths", default="own,onednn,blas")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--runs", type=int, default=3, help="best of RUNS inside each bench call")
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

cli = os.path.join(args.build, "src", "cli", "coordtok")
env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
if args.set:
    env["COORDTOK_CPU"] = args.set
    if args.set == "avx2":
        env["OPENBLAS_CORETYPE"] = "Haswell"
paths = args.paths.split(",")
rows = [int(r) for r in args.rows.split(",")]
best = {}
for _ in range(args.rounds):
    for r in rows:
        for p in paths:
            out = subprocess.run([cli, "bench", "--linear", str(r), "--runs", str(args.runs),
                                  "--json"], env=dict(env, COORDTOK_LINEAR=p),
                                 capture_output=True, text=True, check=True).stdout
            d = json.loads(out.strip().splitlines()[-1])
            old = best.get((r, p))
            if not old or d["gflops"] > old["gflops"]:
                best[(r, p)] = d

cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines()
              if l.startswith("Model name")), "?")
print(f"# {model}, {args.threads} threads, set {args.set or 'best'}, best of "
      f"{args.rounds} rounds x {args.runs} runs")
print(f"{'rows':>5} {'path':<8} {'GFLOP/s':>8} {'ceiling':>8} {'of ceil':>8} "
      f"{'vs ' + paths[0]:>9}  what ran")
for r in rows:
    ref = best[(r, paths[0])]["gflops"]
    for p in paths:
        d = best[(r, p)]
        print(f"{r:>5} {p:<8} {d['gflops']:8.1f} {d['ceiling_gflops']:8.1f} "
              f"{d['gflops'] / d['ceiling_gflops']:8.0%} {d['gflops'] / ref:8.2f}x  {d['linear']}")
