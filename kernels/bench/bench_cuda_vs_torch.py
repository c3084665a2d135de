#!/usr/bin/env python3
"""Benchmark (not a test): CoordTok-L-sized random weights through our CUDA
backend and through the reference PyTorch model (src/train/coordtok_model.py)
on the same GPU, in one run.

For each precision it prints ms per 128-frame window for encode and for
decode (whole window = 32768 queries, decoded in slices of 4096 queries =
16 frames, and in one slice of 32768), the ratio torch / ours (> 1: ours is
faster) and the achieved TFLOP/s (2 FLOPs per multiply-add, the cost model
of ct_config_*_flops / CoordTokConfig.*_flops).

Precisions, ours vs PyTorch:
  fp32  CUBLAS_COMPUTE_32F, no TF32   vs eager fp32 with allow_tf32 = False
  tf32  CUBLAS_COMPUTE_32F_FAST_TF32  vs eager fp32 with allow_tf32 = True
  bf16  bf16 GEMMs + bf16 WMMA flash  vs eager under torch.autocast(bfloat16)
With --sdpa, PyTorch is also timed with its attention replaced by
F.scaled_dot_product_attention (flash/memory-efficient kernels): the
reference model itself builds the S x S matrix, which for one slice of 32768
queries needs 16 x 32768^2 logits (64 GiB in fp32) and is reported as OOM
when it does not fit.

Both sides are timed the same way: from host memory to host memory (the
video or the coordinates are uploaded, the planes or patches downloaded),
median of --runs after --warmup runs.  Our engine is driven through the CLI
(`coordtok bench --random-l --device cuda --precision P --slice N --json`).

Usage (from the repository root, after ninja -C build-cuda):
  python3 kernels/bench/bench_cuda_vs_torch.py --cli build-cuda/src/cli/coordtok \
      --out results/bench.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "src", "train"))

PRECISIONS = ["fp32", "tf32", "bf16"]
SLICES = [4096, 32768]


def run_ours(cli, precision, slice_, runs, warmup, timeout):
    cmd = [cli, "bench", "--random-l", "--device", "cuda", "--precision", precision,
           "--slice", str(slice_), "--runs", str(runs), "--warmup", str(warmup), "--json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    if p.returncode != 0:
        return {"error": (p.stderr or p.stdout).strip()[-500:]}
    line = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not line:
        return {"error": "no JSON in output: " + p.stdout[-300:]}
    return json.loads(line[-1])


class TorchBench:
    def __init__(self, sdpa):
        import torch
        import coordtok_model as cm
        self.torch, self.cm = torch, cm
        self.cfg = cm.CoordTokConfig()
        torch.manual_seed(1234)
        self.model = cm.CoordTok(self.cfg).init_weights().cuda().eval()
        self.sdpa = sdpa
        self.device_name = torch.cuda.get_device_name()

    def _attention_mode(self, sdpa):
        """Swap the reference Attention.forward for an SDPA one (or back)."""
        torch, cm = self.torch, self.cm
        F = torch.nn.functional
        if not hasattr(cm.Attention, "_eager_forward"):
            cm.Attention._eager_forward = cm.Attention.forward

        def sdpa_forward(self, x):
            B, N, D = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            o = F.scaled_dot_product_attention(q, k, v)
            return self.proj(o.transpose(1, 2).reshape(B, N, D))

        cm.Attention.forward = sdpa_forward if sdpa else cm.Attention._eager_forward

    def _median_ms(self, fn, runs, warmup):
        torch = self.torch
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts)

    def run(self, precision, slice_, runs, warmup, sdpa=False, do_encode=True):
        torch, cfg, m = self.torch, self.cfg, self.model
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
        self._attention_mode(sdpa)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")
        g = torch.Generator().manual_seed(1)
        video = (torch.rand(1, cfg.T, cfg.H, cfg.W, 3, generator=g) * 2 - 1).pin_memory()
        coords = self.cm.patch_coords(cfg).reshape(1, -1, 3)
        coords = coords.float().pin_memory()
        n = coords.shape[1]
        res = {}
        try:
            with torch.no_grad(), autocast:
                planes = [p.float() for p in m.encode(video.cuda(non_blocking=True))]
                if do_encode:
                    def enc():
                        zs = m.encode(video.cuda(non_blocking=True))
                        return [z.float().cpu() for z in zs]
                    res["encode_ms"] = self._median_ms(enc, runs, warmup)

                def dec():
                    out = m.decode(tuple(planes), coords.cuda(non_blocking=True),
                                   seq=min(slice_, n))
                    return out.float().cpu()
                res["decode_ms"] = self._median_ms(dec, runs, warmup)
        except torch.cuda.OutOfMemoryError as e:
            res["error"] = "OOM: " + str(e).splitlines()[0][:200]
        finally:
            torch.cuda.empty_cache()
        res["decode_queries"] = n
        return res


def tflops(flops, ms):
    return flops / (ms * 1e-3) / 1e12 if ms else float("nan")


def fmt(v, spec="8.1f"):
    return format(v, spec) if isinstance(v, (int, float)) else f"{v:>8}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "src", "cli", "coordtok"))
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--slices", default=",".join(map(str, SLICES)))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--sdpa", action="store_true", help="also time PyTorch with SDPA attention")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--timeout", type=int, default=900, help="per CLI run, seconds")
    ap.add_argument("--out", help="write all results as JSON here")
    a = ap.parse_args()

    precisions = [p for p in a.precisions.split(",") if p]
    slices = [int(s) for s in a.slices.split(",") if s]
    tb = None
    torch_note = ""
    if not a.no_torch:
        try:
            tb = TorchBench(a.sdpa)
        except Exception as e:  # no torch, no GPU for torch, ...
            torch_note = f"PyTorch unavailable: {type(e).__name__}: {e}"
    if tb is None:
        # the cost model without torch: same formulas as the engine
        sys.path.insert(0, os.path.join(ROOT, "src", "train"))
    results = {"device": tb.device_name if tb else None, "torch_note": torch_note, "rows": []}

    try:
        import coordtok_model as cm
        cfg = cm.CoordTokConfig()
        enc_f = cfg.encode_flops()
        dec_f = {s: cfg.decode_flops(cfg.nt * cfg.nx * cfg.ny, s) for s in slices}
    except Exception:
        enc_f, dec_f = None, {}

    print(f"CoordTok-L random weights, one 128-frame window; device: "
          f"{results['device'] or '(see ours)'}")
    if torch_note:
        print(torch_note)
    hdr = (f"{'precision':9} {'slice':>6} {'side':12} {'enc ms':>8} {'enc TF/s':>8} "
           f"{'dec ms':>9} {'dec TF/s':>8} {'window ms':>9}  ratio torch/ours (enc, dec)")
    print(hdr)
    print("-" * len(hdr))
    for p in precisions:
        for i, s in enumerate(slices):
            ours = run_ours(a.cli, p, s, a.runs, a.warmup, a.timeout)
            row = {"precision": p, "slice": s, "ours": ours}
            sides = [("ours", ours)]
            if tb:
                t = tb.run(p, s, a.runs, a.warmup, sdpa=False, do_encode=(i == 0))
                row["torch_eager"] = t
                sides.append(("torch eager", t))
                if a.sdpa:
                    t2 = tb.run(p, s, a.runs, a.warmup, sdpa=True, do_encode=(i == 0))
                    row["torch_sdpa"] = t2
                    sides.append(("torch sdpa", t2))
            for name, r in sides:
                if "error" in r:
                    print(f"{p:9} {s:6d} {name:12} ERROR {r['error']}")
                    continue
                em = r.get("encode_ms") or None
                dm = r.get("decode_ms")
                ef = tflops(enc_f, em) if enc_f and em else "-"
                df = tflops(dec_f.get(s, 0), dm) if dec_f.get(s) and dm else "-"
                win = (em or 0) + (dm or 0)
                ratio = ""
                if name != "ours" and "error" not in ours:
                    re_ = (em / ours["encode_ms"]) if em and ours.get("encode_ms") else None
                    rd = dm / ours["decode_ms"] if dm and ours.get("decode_ms") else None
                    ratio = f"{re_:.2f}x, " if re_ else "-, "
                    ratio += f"{rd:.2f}x" if rd else "-"
                r["encode_tflops"] = ef if isinstance(ef, float) else None
                r["decode_tflops"] = df if isinstance(df, float) else None
                print(f"{p:9} {s:6d} {name:12} {fmt(em or '-')} {fmt(ef, '8.2f')} "
                      f"{fmt(dm, '9.1f')} {fmt(df, '8.2f')} {fmt(win, '9.1f')}  {ratio}")
            results["rows"].append(row)
            sys.stdout.flush()
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
        print(f"results written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
