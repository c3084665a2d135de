#!/usr/bin/env python3
"""Trains a tiny CoordTok for a few steps on synthetic video and checks that
the loss falls, that resume works, and that the export loads: in PyTorch
(same outputs as the trained model) and in the C engine (`coordtok info`,
when build/src/cli/coordtok or $COORDTOK_CLI exists).

Exit status 77 (skip) only where PyTorch is absent.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from train_test_env import ROOT  # noqa: E402  (src/train on the path; skip without PyTorch)
import torch  # noqa: E402

import numpy as np  # noqa: E402

import train  # noqa: E402
from coordtok_model import load_safetensors_model  # noqa: E402
import safetensors_io  # noqa: E402


def find_cli():
    env = os.environ.get("COORDTOK_CLI")
    if env:
        return env
    for b in ("build", "builddir", "_build"):
        p = os.path.join(ROOT, b, "src", "cli", "coordtok")
        if os.path.exists(p):
            return p
    return shutil.which("coordtok")


def main():
    torch.set_num_threads(1)
    failures = []
    with tempfile.TemporaryDirectory() as td:
        out = os.path.join(td, "run")
        export = os.path.join(td, "tiny.safetensors")
        common = ["--out", out, "--tiny", "--synthetic", "--synthetic-pool", "4", "--quiet", "--seqs", "4",
                  "--batch", "2", "--lr", "3e-3", "--warmup", "5", "--seed", "3"]
        model, hist = train.main(common + ["--steps", "300", "--ckpt-every", "100"])
        losses = [l for _, l in hist]
        first, last = np.mean(losses[:20]), np.mean(losses[-20:])
        print(f"loss: first 20 steps {first:.4f}, last 20 steps {last:.4f}")
        if not last < 0.6 * first:
            failures.append(f"loss did not fall enough ({first:.4f} -> {last:.4f})")

        # resume: continues from step 40 with the saved history
        model, hist = train.main(common + ["--steps", "305", "--resume",
                                           "--export", export, "--export-dtype", "F32"])
        if len(hist) != 305 or hist[-1][0] != 304:
            failures.append(f"resume: history has {len(hist)} steps, last {hist[-1][0]}")

        # the export: metadata complete, loads back into the same model
        _, md, _ = safetensors_io.read_header(export)
        needed = ["coordtok.format", "coordtok.T", "coordtok.H", "coordtok.W",
                  "coordtok.enc_pt", "coordtok.enc_pxy", "coordtok.enc_dim",
                  "coordtok.enc_heads", "coordtok.enc_vit_layers",
                  "coordtok.enc_cross_layers", "coordtok.rxy", "coordtok.rt",
                  "coordtok.channels", "coordtok.qxy", "coordtok.qt",
                  "coordtok.dec_dim", "coordtok.dec_heads", "coordtok.dec_layers",
                  "coordtok.dec_pxy", "coordtok.dec_pt", "coordtok.default_slice",
                  "coordtok.enc_vit_eps", "coordtok.enc_cross_eps", "coordtok.dec_eps"]
        missing = [k for k in needed if k not in md]
        if missing:
            failures.append(f"export metadata lacks {missing}")
        if md.get("coordtok.default_slice") != "64":
            failures.append(f"default_slice {md.get('coordtok.default_slice')} != 64")
        loaded, _ = load_safetensors_model(export)
        model.eval()
        g = torch.Generator().manual_seed(0)
        cfg = model.cfg
        video = torch.rand((1, cfg.T, cfg.H, cfg.W, 3), generator=g) * 2 - 1
        with torch.no_grad():
            a = model.rasterize(model.encode(video), cfg.T)
            b = loaded.rasterize(loaded.encode(video), cfg.T)
        err = float((a - b).abs().max())
        print(f"export reloaded: max|diff| {err:.2e}")
        if err > 1e-5:
            failures.append(f"reloaded export differs by {err}")

        # F16 export (what ships) stays close
        export16 = os.path.join(td, "tiny16.safetensors")
        train.main(["--out", out, "--export-only", "--export", export16, "--quiet"])
        l16, _ = load_safetensors_model(export16)
        with torch.no_grad():
            c = l16.rasterize(l16.encode(video), cfg.T)
        print(f"F16 export: max|diff| {float((a - c).abs().max()):.2e}")

        cli = find_cli()
        if cli and os.path.exists(cli):
            r = subprocess.run([cli, "info", export], capture_output=True, text=True)
            print(f"$ coordtok info tiny.safetensors -> {r.returncode}\n{r.stdout}{r.stderr}")
            if r.returncode != 0:
                failures.append("coordtok info rejected the export")
            r = subprocess.run([cli, "info", export16], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"coordtok info rejected the F16 export: {r.stderr}")
        else:
            print("note: C engine CLI not built (build/src/cli/coordtok); "
                  "engine load check not run")

    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else "FAIL")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
