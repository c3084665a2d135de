#!/usr/bin/env python3
"""Runs src/train/gpu-run.sh exactly as on the lent GPU, but on the CPU
with --rehearse (CPU-sized batches, a tiny "grow" network) for a few steps:
both runs from the data pack, then checks what comes back under $OUT (at
most 8 files, none over 16 MiB, log.txt with both curves), joins the parts
with gpu-join.sh and loads the exports in PyTorch and in the C engine
(`coordtok info`, and `coordtok reconstruct` of the validation clip when
build/src/cli/coordtok or $COORDTOK_CLI exists).

Exit status 77 (skip) only where PyTorch is absent.
"""

import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile

from train_test_env import ROOT  # noqa: E402  (src/train on the path; skip without PyTorch)
import numpy as np  # noqa: E402

from coordtok_model import load_safetensors_model  # noqa: E402
import evaluate  # noqa: E402

MiB = 1 << 20
PACK = os.path.join(ROOT, "src", "train", "data", "train-pack.tar")
SHIPPED = os.path.join(ROOT, "src", "models", "coordtok-default.safetensors")


def main():
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)
        return ok

    # the pack never holds the test clip
    with tarfile.open(PACK) as t:
        manifest = json.loads(t.extractfile("manifest.json").read())
    names = [m["name"] + " " + m.get("source", "") for m in manifest["members"]]
    check(not any("cockatoo" in n for n in names), "the data pack holds cockatoo.mp4")
    check(any(m["kind"] == "val" for m in manifest["members"]), "the data pack has no validation clip")

    with tempfile.TemporaryDirectory() as td:
        out, work, dest = (os.path.join(td, d) for d in ("out", "work", "join"))
        env = dict(os.environ, OUT=out, WORK=work, PYTHON=sys.executable)
        cmd = ["bash", os.path.join(ROOT, "src", "train", "gpu-run.sh"), "--device", "cpu",
               "--rehearse", "--minutes", "5", "--steps", "4", "--eval-every", "4"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
        print(f"$ {' '.join(cmd)} -> {r.returncode}\n{r.stderr[-3000:]}")
        if not check(r.returncode == 0, f"gpu-run.sh exited with {r.returncode}"):
            return report(failures)

        # the validation clip is unpacked, but not among the training clips
        import train
        val = np.load(os.path.join(work, "data", "val", "val_motion.npy"))
        args = train.parse_args(["--out", os.path.join(td, "x"), "--data",
                                 os.path.join(work, "data")])
        sampler = train.make_sampler(args, train.CoordTokConfig(**train.DEFAULT_MODEL))
        clips = sampler.base.clips + sampler.base.patterns + sampler.motion.clips
        check(len(sampler.base.clips) >= 10, f"only {len(sampler.base.clips)} training clips")
        check(not any(c.shape == val.shape and (c == val).all() for c in clips),
              "the validation clip is among the training clips")

        files = sorted(os.listdir(out))
        print("OUT:", ", ".join(f"{f} ({os.path.getsize(os.path.join(out, f))} bytes)" for f in files))
        check(len(files) <= 8, f"{len(files)} files under OUT (at most 8 come back)")
        check(all(os.path.getsize(os.path.join(out, f)) <= 16 * MiB for f in files),
              "a file under OUT is over 16 MiB")
        check(any(f.startswith("results.tar.part-") for f in files), "no results.tar parts")
        log = open(os.path.join(out, "log.txt")).read()
        for run in ("finetune", "grow"):
            curve = log.split(f"## {run}: curve.tsv\n")[-1].split("\n## ")[0].splitlines()
            ok = len(curve) >= 2 and curve[0].startswith("step\t")
            if check(ok, f"log.txt has no curve for {run}"):
                row = dict(zip(curve[0].split("\t"), curve[-1].split("\t")))
                print(f"{run}: last curve row {row}")
                check(row["step"] == "4", f"{run}: curve ends at step {row['step']}, not 4")
                check(math.isfinite(float(row["val_psnr"])) and float(row["val_psnr"]) > 5,
                      f"{run}: validation PSNR {row['val_psnr']}")
            check(f"{run}: exit status 0" in log, f"{run}: no 'exit status 0' in log.txt")

        r = subprocess.run(["bash", os.path.join(ROOT, "src", "train", "gpu-join.sh"), out, dest],
                           env=env, capture_output=True, text=True, timeout=120)
        print(f"$ gpu-join.sh -> {r.returncode}\n{r.stdout}{r.stderr}")
        if not check(r.returncode == 0 and "sha256 matches" in r.stdout, "gpu-join.sh failed"):
            return report(failures)

        val = np.load(os.path.join(dest, "val_motion.npy"))
        check(val.shape == (256, 128, 128, 3), f"validation clip shape {val.shape}")
        ft, _ = load_safetensors_model(os.path.join(dest, "finetune", "finetune.safetensors"))
        shipped, _ = load_safetensors_model(SHIPPED)
        check(ft.cfg == shipped.cfg, "the fine-tuned export changed the shipped configuration")
        gr, md = load_safetensors_model(os.path.join(dest, "grow", "grow.safetensors"))
        check(gr.cfg.n_tokens == 1280 and gr.cfg.channels == 8,
              f"grow: {gr.cfg.n_tokens} tokens of {gr.cfg.channels} channels, not CoordTok-L's")

        cli = evaluate.find_cli()
        if cli and os.path.exists(cli):
            for run in ("finetune", "grow"):
                path = os.path.join(dest, run, f"{run}.safetensors")
                r = subprocess.run([cli, "info", path], capture_output=True, text=True)
                check(r.returncode == 0, f"coordtok info rejected {run}: {r.stderr}")
            rec, _, _ = evaluate.reconstruct_c(cli, os.path.join(dest, "grow", "grow.safetensors"),
                                               val)
            p = evaluate.psnr(rec, val)
            print(f"grow export through the C engine: validation PSNR {p:.2f} dB")
            check(math.isfinite(p) and p > 5, f"C engine on the grow export: PSNR {p}")
        else:
            print("note: C engine CLI not built (build/src/cli/coordtok); engine load check not run")
    return report(failures)


def report(failures):
    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else "FAIL")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
