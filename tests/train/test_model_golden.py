#!/usr/bin/env python3
"""Checks src/train/coordtok_model.py (the PyTorch reference) against the
golden vectors of the official implementation (tests/data/golden/<case>/).

Every tensor of io.safetensors that the model produces is compared in fp32:
max|ours - ref| <= 1e-4 * max(1, max|ref|).

Usage: test_model_golden.py [GOLDEN_DIR_OR_CASE ...]
Exit status 77 (meson/automake "skip") where PyTorch is absent.
"""

import json
import os
import sys

from train_test_env import ROOT  # noqa: E402  (src/train on the path; skip without PyTorch)
import torch  # noqa: E402

import numpy as np  # noqa: E402

from coordtok_model import CoordTok, CoordTokConfig, clean_state_dict  # noqa: E402
import safetensors_io  # noqa: E402

torch.set_num_threads(1)


def cases(args):
    if not args:
        args = [os.path.join(ROOT, "tests", "data", "golden")]
    out = []
    for a in args:
        if os.path.exists(os.path.join(a, "config.json")):
            out.append(a)
        else:
            out += sorted(os.path.join(a, d) for d in os.listdir(a)
                          if os.path.exists(os.path.join(a, d, "config.json")))
    return out


class Checker:
    def __init__(self, case):
        self.case = case
        self.failed = 0
        self.n = 0

    def check(self, name, ours, ref):
        ours = ours.detach().double().numpy().reshape(-1) if torch.is_tensor(ours) \
            else np.asarray(ours, np.float64).reshape(-1)
        ref = np.asarray(ref, np.float64).reshape(-1)
        self.n += 1
        if ours.shape != ref.shape:
            print(f"  FAIL {name}: {ours.size} values, reference has {ref.size}")
            self.failed += 1
            return
        err = float(np.max(np.abs(ours - ref))) if ref.size else 0.0
        tol = 1e-4 * max(1.0, float(np.max(np.abs(ref))) if ref.size else 0.0)
        ok = err <= tol
        self.failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {name:20s} max|err| {err:.3e}  tol {tol:.3e}")


def run_case(path):
    name = os.path.basename(os.path.normpath(path))
    print(f"case {name}")
    conf = json.load(open(os.path.join(path, "config.json")))
    cfg = CoordTokConfig.from_official(conf["model"], conf.get("layernorm_eps"))
    weights, _ = safetensors_io.load(os.path.join(path, "weights.safetensors"))
    io, _ = safetensors_io.load(os.path.join(path, "io.safetensors"))

    model = CoordTok(cfg)
    sd = clean_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    model.load_state_dict(sd, strict=True)
    model.eval()

    # Inferring sizes from shapes must agree with config.json (heads aside).
    inferred = CoordTokConfig.from_state_dict(sd, cfg.enc_heads, cfg.dec_heads)
    chk = Checker(name)
    if inferred != cfg:
        print(f"  FAIL config inferred from shapes differs:\n    {inferred}\n    {cfg}")
        chk.failed += 1

    # The official checkpoint (module. prefix, stray lpips tensors) loads too.
    ckpt = os.path.join(path, "checkpoint.pth")
    if os.path.exists(ckpt):
        from coordtok_model import load_official_checkpoint
        m2 = load_official_checkpoint(ckpt, cfg)
        same = all(torch.equal(a, b) for a, b in
                   zip(m2.state_dict().values(), model.state_dict().values()))
        chk.n += 1
        chk.failed += not same
        print(f"  {'ok  ' if same else 'FAIL'} checkpoint.pth loads (module. stripped, lpips dropped)")

    video = torch.from_numpy(io["video"])
    n_frames = int(io["n_frames"].reshape(-1)[0])
    with torch.no_grad():
        trace = {}
        planes = model.encode(video, n_frames, trace=trace)
        chk.check("enc.vit_out", trace["vit_out"], io["enc.vit_out"])
        if "enc.memory_mask" in io:
            chk.check("enc.memory_mask", trace["memory_mask"], io["enc.memory_mask"])
        for key, z in zip(("z_xy", "z_yt", "z_xt"), planes):
            chk.check(key, z, io[key])

        # Decode from the reference planes, so that errors do not compound.
        ref_planes = tuple(torch.from_numpy(io[k]) for k in ("z_xy", "z_yt", "z_xt"))
        for k in conf["nslices"]:
            if f"coords.nslice{k}" in io:
                from coordtok_model import patch_coords
                chk.check(f"coords.nslice{k}", patch_coords(cfg, n_frames),
                          io[f"coords.nslice{k}"])
            out = model.rasterize(ref_planes, n_frames, nslices=k)
            chk.check(f"decoded.nslice{k}", out, io[f"decoded.nslice{k}"])

        pc = torch.from_numpy(io["probe.coords"])
        emb = []
        out = model.decode(ref_planes, pc, embedding_out=emb)
        chk.check("probe.embedding", emb[0], io["probe.embedding"])
        chk.check("probe.output", out, io["probe.output"])

        # Whole pipeline from the video (errors compound, same tolerance x10).
        out = model.rasterize(planes, n_frames, nslices=conf["nslices"][0])
        ref = io[f"decoded.nslice{conf['nslices'][0]}"]
        err = float((out.double() - torch.from_numpy(ref).double()).abs().max())
        tol = 1e-3 * max(1.0, float(np.abs(ref).max()))
        ok = err <= tol
        chk.failed += not ok
        chk.n += 1
        print(f"  {'ok  ' if ok else 'FAIL'} {'end-to-end':20s} max|err| {err:.3e}  tol {tol:.3e}")
    return chk


def main():
    paths = cases(sys.argv[1:])
    if not paths:
        print("FAIL: no golden cases found")
        return 1
    failed = 0
    for p in paths:
        chk = run_case(p)
        failed += chk.failed
    print("PASS" if failed == 0 else f"FAIL: {failed} check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
