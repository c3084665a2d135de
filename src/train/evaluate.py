#!/usr/bin/env python3
"""Evaluates a CoordTok weight file on real clips: PSNR and SSIM per clip
between the input windows and the reconstruction, and a PNG strip of
original vs reconstructed frames.

The reconstruction is done by the C engine (``coordtok reconstruct``, the
default when the CLI is found) or by the PyTorch reference (``--engine
torch``).  Frames are decoded with GStreamer and scaled to the model's size
(128x128) without keeping the aspect ratio.

    /usr/bin/python3 src/train/evaluate.py --model src/models/coordtok-default.safetensors \\
        --png docs/default-model.png

Default clips: the held-out cockatoo.mp4 (never trained on) and the training
clip Megamind.avi, first 256 frames each (two 128-frame windows).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from video_data import HELD_OUT, decode  # noqa: E402

DEFAULT_CLIPS = [HELD_OUT, "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"]


# ---------------------------------------------------------------------------
# metrics


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def _gauss_filter(x, sigma=1.5, size=11):
    """Separable Gaussian filter, 'valid' mode, over axes 1 and 2 of (n, H, W)."""
    r = np.arange(size) - size // 2
    k = np.exp(-(r ** 2) / (2 * sigma ** 2))
    k /= k.sum()
    H, W = x.shape[1], x.shape[2]
    y = sum(k[i] * x[:, i:H - size + 1 + i, :] for i in range(size))
    return sum(k[i] * y[:, :, i:W - size + 1 + i] for i in range(size))


def ssim(a, b):
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
    K1 0.01, K2 0.03, L 255) over frames and RGB channels."""
    C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(3):
        x = a[..., c].astype(np.float64)
        y = b[..., c].astype(np.float64)
        mx, my = _gauss_filter(x), _gauss_filter(y)
        sxx = _gauss_filter(x * x) - mx * mx
        syy = _gauss_filter(y * y) - my * my
        sxy = _gauss_filter(x * y) - mx * my
        s = ((2 * mx * my + C1) * (2 * sxy + C2)) / ((mx * mx + my * my + C1) * (sxx + syy + C2))
        vals.append(s.mean())
    return float(np.mean(vals))


# ---------------------------------------------------------------------------
# PNG


def write_png(path, img):
    """Writes uint8 (H, W, 3) RGB as PNG (zlib, no dependencies)."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def strip(orig, rec, frames, gap=2):
    """Two rows (original, reconstruction) of the chosen frames."""
    H, W = orig.shape[1:3]
    n = len(frames)
    img = np.full((2 * H + gap, n * W + (n - 1) * gap, 3), 255, np.uint8)
    for i, t in enumerate(frames):
        x = i * (W + gap)
        img[:H, x:x + W] = orig[t]
        img[H + gap:, x:x + W] = rec[t]
    return img


# ---------------------------------------------------------------------------
# reconstruction back ends


def find_cli():
    env = os.environ.get("COORDTOK_CLI")
    if env:
        return env
    for b in ("build", "builddir", "_build"):
        p = os.path.join(ROOT, b, "src", "cli", "coordtok")
        if os.path.exists(p):
            return p
    return shutil.which("coordtok")


def reconstruct_c(cli, model, frames, slice_=0):
    """Runs `coordtok reconstruct` on raw RGB24; returns (frames, timings)."""
    with tempfile.TemporaryDirectory() as td:
        fin, fout = os.path.join(td, "in.rgb"), os.path.join(td, "out.rgb")
        frames.tofile(fin)
        # raw frames say nothing about their size: the CLI wants it given
        cmd = [cli, "reconstruct", "--model", model, "--device", "cpu",
               "--width", str(frames.shape[2]), "--height", str(frames.shape[1])]
        if slice_:
            cmd += ["--slice", str(slice_)]
        r = subprocess.run(cmd + [fin, fout], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
        rec = np.fromfile(fout, np.uint8).reshape(frames.shape)
    times = [(float(a), float(b)) for a, b in
             re.findall(r"encode ([\d.]+) ms, decode ([\d.]+) ms", r.stdout)]
    return rec, times, r.stdout


def reconstruct_torch(model_path, frames, slice_=0):
    import torch
    from coordtok_model import load_safetensors_model
    from train import reconstruct
    model, _ = load_safetensors_model(model_path)
    t = time.time()
    rec = reconstruct(model, frames, slice=slice_ or None)
    n_win = -(-frames.shape[0] // model.cfg.T)
    per = (time.time() - t) / n_win * 1000
    return rec, [(0.0, per)] * n_win, ""


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "src", "models",
                                                     "coordtok-default.safetensors"))
    ap.add_argument("--engine", choices=["auto", "c", "torch"], default="auto")
    ap.add_argument("--cli", help="coordtok CLI (default: build/src/cli/coordtok)")
    ap.add_argument("--clip", action="append", help="video files or uint8 (n, H, W, 3) .npy frames "
                    "(default: cockatoo.mp4, Megamind.avi)")
    ap.add_argument("--frames", type=int, default=256)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--slice", type=int, default=0, help="decoder slice (0: model default)")
    ap.add_argument("--png", help="write a strip of original vs reconstructed frames")
    ap.add_argument("--png-frames", default="0,24,48,72,96,120,144,168,192,216")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads")
    a = ap.parse_args()

    engine = a.engine
    cli = a.cli or find_cli()
    if engine == "auto":
        engine = "c" if cli and os.path.exists(cli) else "torch"
    if engine == "torch":
        import torch
        torch.set_num_threads(a.threads)
    print(f"model {a.model}\nengine {engine}{' (' + cli + ')' if engine == 'c' else ' (PyTorch reference)'}")

    rows = []
    for clip in a.clip or DEFAULT_CLIPS:
        if clip.endswith(".npy"):   # already decoded (e.g. motion_data.py --val)
            frames = np.load(clip)[:a.frames]
        else:
            frames = decode(clip, a.size, a.frames)
        if engine == "c":
            rec, times, _ = reconstruct_c(cli, a.model, frames, a.slice)
        else:
            rec, times = reconstruct_torch(a.model, frames, a.slice)[:2]
        p, s = psnr(rec, frames), ssim(rec, frames)
        T = 128
        per_win = [psnr(rec[i:i + T], frames[i:i + T]) for i in range(0, frames.shape[0], T)]
        name = os.path.basename(clip)
        rows.append((name, frames.shape[0], p, s, per_win, times))
        print(f"{name}: {frames.shape[0]} frames {a.size}x{a.size}: RGB PSNR {p:.2f} dB, "
              f"SSIM {s:.4f}; per window PSNR "
              + ", ".join(f"{x:.2f}" for x in per_win)
              + ("; encode+decode ms per window " +
                 ", ".join(f"{e:.0f}+{d:.0f}" for e, d in times) if times else ""))
        if a.png:
            idx = [int(x) for x in a.png_frames.split(",") if int(x) < frames.shape[0]]
            img = strip(frames, rec, idx)
            base, ext = os.path.splitext(a.png)
            out = a.png if clip == (a.clip or DEFAULT_CLIPS)[0] else \
                f"{base}-{os.path.splitext(name)[0]}{ext}"
            write_png(out, img)
            print(f"  wrote {out} (top: original, bottom: reconstruction; frames {idx})")
    return rows


if __name__ == "__main__":
    main()
