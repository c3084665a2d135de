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

onnxruntime (--ort-python PY): the same PyTorch model exported to ONNX
(opset 17; exports cached under /tmp/coordtok-onnx-*), intra-op threads =
--threads, its outputs checked against PyTorch's; columns "ort ms" and
"vs ort" (onnxruntime time / engine time: above 1 means the engine is
faster).  Set it up once:
    /usr/bin/python3 -m venv --system-site-packages /tmp/ortvenv
    /tmp/ortvenv/bin/pip install onnxruntime "onnx<1.18" "numpy<1.25"
(newer onnx pulls NumPy 2, which Debian's torch cannot load).

--ort-hide-avx512: onnxruntime picks its kernels from CPUID and has no
setting that limits it to AVX2; on an AVX-512 machine this runs it under
tests/bench/hide-avx512.c (built here with cc), which hides AVX-512 from
its CPUID reads, so that it runs its AVX2 kernels, as on an AVX2-only CPU.
Limit the engine and PyTorch alike (COORDTOK_CPU=avx2,
OPENBLAS_CORETYPE=Haswell, ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2).

Usage: tests/bench/bench_cpu_vs_torch.py [--coordtok build/src/cli/coordtok]
       [--runs 3] [--rounds 1] [--threads 2] [--only encode,dec1024,dec4096] [--json out.json]
       [--ort-python /tmp/ortvenv/bin/python [--ort-hide-avx512]]
"""
import argparse
import atexit
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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


# onnxruntime on the same PyTorch model, exported to ONNX (opset 17) once
# per configuration and kind (encode; decode with a dynamic query count),
# run with intra-op threads = the engine's, outputs checked against PyTorch.
ORT_CHILD = r'''
import json, os, sys, time, statistics
sys.path.insert(0, os.path.join(sys.argv[1], "src", "train"))
import numpy as np, torch, onnxruntime as ort
torch.set_num_threads(1)
from coordtok_model import CoordTok, CoordTokConfig, patch_coords
cfg = CoordTokConfig(**json.loads(sys.argv[2]))
what, runs, threads, cache = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
torch.manual_seed(0)
model = CoordTok(cfg).eval()
class Enc(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, video): return s.m.encode(video, cfg.T)
class Dec(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, a, b, c, coords): return s.m.decode((a, b, c), coords)
with torch.no_grad():
    video = torch.rand(1, cfg.T, cfg.H, cfg.W, 3) * 2 - 1
    planes = model.encode(video, cfg.T)
    os.makedirs(cache, exist_ok=True)
    if what == "encode":
        path, inputs = os.path.join(cache, "encode.onnx"), {"video": video.numpy()}
        if not os.path.exists(path):
            torch.onnx.export(Enc(model), (video,), path, input_names=["video"],
                              output_names=["z_xy", "z_yt", "z_xt"], opset_version=17)
        ref = [p.numpy() for p in planes]
    else:
        n = int(what[3:])
        coords = patch_coords(cfg)[:n].unsqueeze(0)
        path = os.path.join(cache, "decode.onnx")
        inputs = {"z_xy": planes[0].numpy(), "z_yt": planes[1].numpy(), "z_xt": planes[2].numpy(),
                  "coords": coords.numpy()}
        if not os.path.exists(path):
            torch.onnx.export(Dec(model), (*planes, coords), path,
                              input_names=["z_xy", "z_yt", "z_xt", "coords"], output_names=["patches"],
                              dynamic_axes={"coords": {1: "n"}, "patches": {1: "n"}}, opset_version=17)
        ref = [model.decode(planes, coords).numpy()]
so = ort.SessionOptions()
so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
out = sess.run(None, inputs)
err = max(float(np.abs(o - r).max()) for o, r in zip(out, ref))
times = []
for _ in range(runs):
    t0 = time.perf_counter(); sess.run(None, inputs); times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({"ms": statistics.median(times), "all": times, "max_abs_err_vs_torch": err,
                  "version": ort.__version__}))
'''


ORT_PRELOAD = None   # --ort-hide-avx512: the library built from hide-avx512.c


def build_hide_avx512():
    src = os.path.join(ROOT, "tests", "bench", "hide-avx512.c")
    tmp = tempfile.mkdtemp(prefix="coordtok-hide-avx512-")
    atexit.register(shutil.rmtree, tmp, True)
    out = os.path.join(tmp, "hide-avx512.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", out, src], check=True)
    return out


def run_ort(python, cfg, what, runs, threads):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if ORT_PRELOAD:
        env.update(LD_PRELOAD=ORT_PRELOAD, HIDE_AVX512_CHECK="1")
    # str hashes differ per process (PYTHONHASHSEED): a digest finds the export again
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
    cache = os.path.join("/tmp", "coordtok-onnx-" + key)
    done = subprocess.run([python, "-c", ORT_CHILD, ROOT, json.dumps(cfg), what, str(runs), str(threads),
                           cache], env=env, check=True, capture_output=True, text=True)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    if ORT_PRELOAD:
        # the library reports at exit how many CPUID reads it answered: none
        # would mean onnxruntime chose its kernels unmasked
        seen = [l for l in done.stderr.splitlines() if l.startswith("hide-avx512: answered")]
        n = int(seen[-1].split()[2]) if seen else 0
        if n < 2:
            sys.exit(f"onnxruntime under hide-avx512 answered {n} CPUID reads: the mask was not in use")
        r["cpuid_answered"] = n
    return r


TORCH_BLAS_CORE = None   # OpenBLAS kernels PyTorch gets: the engine's choice


def run_torch(cfg, what, runs, torch_threads, blas_threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(torch_threads), MKL_NUM_THREADS=str(torch_threads),
               OPENBLAS_NUM_THREADS=str(blas_threads), CT_TORCH_THREADS=str(torch_threads))
    if TORCH_BLAS_CORE and "OPENBLAS_CORETYPE" not in os.environ:
        env["OPENBLAS_CORETYPE"] = TORCH_BLAS_CORE
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
    ap.add_argument("--rounds", type=int, default=1, help="alternate the engines this many "
                    "times per measurement and keep each one's best")
    ap.add_argument("--only", default="encode,dec256,dec1024,dec4096")
    ap.add_argument("--torch-sweep", action="store_true")
    ap.add_argument("--json", help="write results here too")
    ap.add_argument("--ort-python", help="a python with onnxruntime (e.g. a venv made with "
                    "--system-site-packages): adds onnxruntime as a second reference")
    ap.add_argument("--ort-hide-avx512", action="store_true", help="run onnxruntime with AVX-512 "
                    "hidden from CPUID (tests/bench/hide-avx512.c): its AVX2 kernels on an AVX-512 CPU")
    a = ap.parse_args()
    global ORT_PRELOAD
    if a.ort_hide_avx512:
        if not a.ort_python:
            ap.error("--ort-hide-avx512 needs --ort-python")
        ORT_PRELOAD = build_hide_avx512()
        print(f"# onnxruntime runs with AVX-512 hidden from CPUID ({ORT_PRELOAD})")

    cfg = {}
    for kv in filter(None, a.config.split(",")):
        k, v = kv.split("=")
        cfg[k] = float(v) if "eps" in k else int(v)
    cfg_arg = a.config or "L"
    splits = [(a.threads, a.threads)]
    if a.torch_sweep:
        splits += [(1, a.threads), (a.threads, 1)]
    print(f"# threads: engine OMP={a.threads}; torch (torch threads, OpenBLAS threads) in {splits}")
    print(f"# config: CoordTok-L{(' + ' + a.config) if a.config else ''}, random weights, fp32, median of {a.runs}"
          f"{f', best of {a.rounds} alternating rounds' if a.rounds > 1 else ''}")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    gemm = json.loads(subprocess.run([a.coordtok, "bench", "--gemm", "2048", "--runs", "3", "--json"], env=env,
                                     check=True, capture_output=True, text=True).stdout)["gemm_gflops"]
    print(f"# fp32 GEMM ceiling (OpenBLAS sgemm 2048^3, {a.threads} threads): {gemm:.1f} GFLOP/s")
    kernels = subprocess.run([a.coordtok, "bench", "--random", "T=16,H=32,W=32,enc_pt=4,enc_pxy=8,enc_dim=64,"
                              "enc_heads=4,enc_vit_layers=1,enc_cross_layers=1,dec_dim=64,dec_heads=4,"
                              "dec_layers=1,rxy=8,rt=8,channels=4,qxy=4,qt=4,dec_pxy=4,default_slice=64",
                              "--runs", "1", "--no-decode"], env=env, check=True, capture_output=True,
                             text=True).stdout
    kline = [l for l in kernels.splitlines() if l.startswith("cpu kernels")]
    print(f"# engine {kline[0] if kline else ''}")
    # Where OpenBLAS did not know the CPU and the engine corrected its kernel
    # choice (src/cpu/blas-core.c), PyTorch's OpenBLAS gets the same choice
    # through OPENBLAS_CORETYPE: the comparison is of the engines, not of
    # OpenBLAS's CPU tables.
    global TORCH_BLAS_CORE
    if kline and "(OpenBLAS had chosen" in kline[0]:
        TORCH_BLAS_CORE = kline[0].split("BLAS kernels: ")[1].split(" ")[0]
        print(f"# PyTorch runs with OPENBLAS_CORETYPE={TORCH_BLAS_CORE}, as the engine corrects OpenBLAS")
    ort_hdr = f" {'ort ms':>9s} {'vs ort':>7s}" if a.ort_python else ""
    print(f"{'what':10s} {'torch ms':>10s}{ort_hdr} {'engine ms':>10s} {'vs torch':>8s} {'engine GFLOP/s':>15s} {'of ceiling':>10s}")
    results = []
    for what in a.only.split(","):
        # --rounds: the three alternate, each keeps its best round (a busy
        # host only ever slows a round down)
        torch_rounds, ort_rounds, engine_rounds = [], [], []
        for _ in range(a.rounds):
            torch_rounds.append(min(run_torch(cfg, what, a.runs, t, b) for t, b in splits))
            if a.ort_python:
                ort_rounds.append(run_ort(a.ort_python, cfg, what, a.runs, a.threads))
            engine_rounds.append(run_engine(a.coordtok, cfg_arg, what, a.runs, a.threads))
        best_torch = min(torch_rounds)
        ort_r = min(ort_rounds, key=lambda r: r["ms"]) if ort_rounds else None
        eng_ms, gflops = min(engine_rounds)   # (ms, GFLOP/s): the fastest round
        ratio = best_torch / eng_ms
        ort_col = f" {ort_r['ms']:9.0f} {ort_r['ms'] / eng_ms:6.2f}x" if ort_r else ""
        print(f"{what:10s} {best_torch:10.0f}{ort_col} {eng_ms:10.0f} {ratio:7.2f}x {gflops:15.1f} {gflops / gemm:9.0%}"
              + (f"   (ort max|err| vs torch {ort_r['max_abs_err_vs_torch']:.1e})" if ort_r else ""), flush=True)
        results.append(dict(what=what, torch_ms=best_torch, engine_ms=eng_ms, ratio=ratio, engine_gflops=gflops,
                            ort=ort_r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(gemm_gflops=gemm, threads=a.threads, config=cfg_arg, runs=a.runs, rounds=a.rounds, results=results,
                           date=time.strftime("%Y-%m-%d %H:%M")), f, indent=1)


if __name__ == "__main__":
    main()
