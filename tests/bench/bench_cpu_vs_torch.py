#!/usr/bin/python3
"""CPU speed: libcoordtok vs PyTorch on the same model, in one run.

Runs CoordTok-L-sized random weights (or any size: --config key=value,...)
through PyTorch (src/train/coordtok_model.py, the training program's model
definition, eager fp32, no_grad) and through the C engine (`coordtok bench`,
a subprocess so the two thread pools never overlap), alternating the two,
and prints milliseconds and the ratio torch/engine for:

  encode   one 128-frame window
  dec1024  1024 queries decoded as one sequence
  dec4096  4096 queries decoded as one sequence (16 frames at 128x128)
  dec256   256 queries as one sequence: attention is ~4% of the FLOPs, so
           its rate is the linear layers' rate, compared to the GEMM ceiling

Threads: both sides are pinned to the same count (default 2).  PyTorch's
thread setting does not govern Debian's OpenBLAS (pthread build), so the
torch side runs in a child process with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS
and torch.set_num_threads all set; --torch-sweep also tries the other splits
(torch 1 / BLAS 2, torch 2 / BLAS 1) and keeps PyTorch's best.

Usage: tests/bench/bench_cpu_vs_torch.py [--coordtok build/src/cli/coordtok]
       [--runs 3] [--threads 2] [--only encode,dec1024,dec4096] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TORCH_CHILD = r'''
import json, os, sys, time, statistics
sys.path.insert(0, os.path.join(sys.argv[1], "src", "train"))
import torch
torch.set_num_threads(int(os.environ["CT_TORCH_THREADS"]))
from coordtok_model import CoordTok, CoordTokConfig, patch_coords
cfg = CoordTokConfig(**json.loads(sys.argv[2]))
what, runs = sys.argv[3], int(sys.argv[4])
torch.manual_seed(0)
model = CoordTok(cfg).eval()
with torch.no_grad():
    video = torch.rand(1, cfg.T, cfg.H, cfg.W, 3) * 2 - 1
    planes = model.encode(video, cfg.T)
    if what == "encode":
        fn = lambda: model.encode(video, cfg.T)
    else:
        n = int(what[3:])
        coords = patch_coords(cfg)[:n].unsqueeze(0)
        fn = lambda: model.decode(planes, coords)
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({"ms": statistics.median(times), "all": times}))
'''


def run_torch(cfg, what, runs, torch_threads, blas_threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(torch_threads), MKL_NUM_THREADS=str(torch_threads),
               OPENBLAS_NUM_THREADS=str(blas_threads), CT_TORCH_THREADS=str(torch_threads))
    out = subprocess.run([sys.executable, "-c", TORCH_CHILD, ROOT, json.dumps(cfg), what, str(runs)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["ms"]


def run_engine(coordtok, cfg_arg, what, runs, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    args = [coordtok, "bench", "--random", cfg_arg, "--device", "cpu", "--json",
            "--runs", str(runs), "--warmup", "1"]
    if what == "encode":
        args += ["--no-decode"]
    else:
        n = what[3:]
        args += ["--no-encode", "--queries", n, "--slice", n]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return (r["encode_ms"] if what == "encode" else r["decode_ms"],
            r["encode_gflops"] if what == "encode" else r["decode_gflops"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coordtok", default=os.path.join(ROOT, "build", "src", "cli", "coordtok"))
    ap.add_argument("--config", default="", help="key=value,... over CoordTok-L (docs/weights.md keys)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="encode,dec256,dec1024,dec4096")
    ap.add_argument("--torch-sweep", action="store_true")
    ap.add_argument("--json", help="write results here too")
    a = ap.parse_args()

    cfg = {}
    for kv in filter(None, a.config.split(",")):
        k, v = kv.split("=")
        cfg[k] = float(v) if "eps" in k else int(v)
    cfg_arg = a.config or "L"
    splits = [(a.threads, a.threads)]
    if a.torch_sweep:
        splits += [(1, a.threads), (a.threads, 1)]
    print(f"# threads: engine OMP={a.threads}; torch (torch threads, OpenBLAS threads) in {splits}")
    print(f"# config: CoordTok-L{(' + ' + a.config) if a.config else ''}, random weights, fp32, median of {a.runs}")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    gemm = json.loads(subprocess.run([a.coordtok, "bench", "--gemm", "2048", "--runs", "3", "--json"], env=env,
                                     check=True, capture_output=True, text=True).stdout)["gemm_gflops"]
    print(f"# fp32 GEMM ceiling (OpenBLAS sgemm 2048^3, {a.threads} threads): {gemm:.1f} GFLOP/s")
    print(f"{'what':10s} {'torch ms':>10s} {'engine ms':>10s} {'ratio':>7s} {'engine GFLOP/s':>15s} {'of ceiling':>10s}")
    results = []
    for what in a.only.split(","):
        best_torch = min(run_torch(cfg, what, a.runs, t, b) for t, b in splits)
        eng_ms, gflops = run_engine(a.coordtok, cfg_arg, what, a.runs, a.threads)
        ratio = best_torch / eng_ms
        print(f"{what:10s} {best_torch:10.0f} {eng_ms:10.0f} {ratio:6.2f}x {gflops:15.1f} {gflops / gemm:9.0%}", flush=True)
        results.append(dict(what=what, torch_ms=best_torch, engine_ms=eng_ms, ratio=ratio, engine_gflops=gflops))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(gemm_gflops=gemm, threads=a.threads, config=cfg_arg, runs=a.runs, results=results,
                           date=time.strftime("%Y-%m-%d %H:%M")), f, indent=1)


if __name__ == "__main__":
    main()
