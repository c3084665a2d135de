"""Reference reconstructions of a clip that need no training: how much of
its content is static, and what plain down/up-sampling with a similar
number of floats gives.  They put the default model's PSNR in context
(CoordTok keeps 10240 floats per 128-frame window).

    /usr/bin/python3 src/train/reference_bounds.py [--clip frames.npy]

The clip is a uint8 (n, H, W, 3) .npy (video_data.py --decode); windows
of 128 frames, PSNR in RGB over all pixels as evaluate.py computes it.
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from evaluate import psnr


def resample(x, size):
    """(1, 3, T, H, W) -> area-downsample to ``size`` -> trilinear back."""
    d = F.interpolate(x, size=size, mode="area")
    return F.interpolate(d, size=x.shape[2:], mode="trilinear", align_corners=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="/tmp/cockatoo_128.npy")
    ap.add_argument("--T", type=int, default=128)
    a = ap.parse_args()
    frames = np.load(a.clip)
    T = a.T
    rows = [("temporal mean of the window (full resolution)", None, "static"),
            ("down/up 32 x 8 x 8 (time x space)", (32, 8, 8), None),
            ("down/up 16 x 16 x 16", (16, 16, 16), None),
            ("down/up 32 x 16 x 16", (32, 16, 16), None),
            ("every frame 16 x 16", (T, 16, 16), None),
            ("every frame 32 x 32", (T, 32, 32), None)]
    print(f"{a.clip}: {frames.shape[0]} frames, windows of {T}")
    print(f"{'reference':48s} {'floats/window':>14s} {'PSNR dB':>8s}")
    for name, size, kind in rows:
        ref, out = [], []
        for t0 in range(0, frames.shape[0] - T + 1, T):
            x = torch.from_numpy(frames[t0:t0 + T]).float().permute(3, 0, 1, 2)[None]
            if kind == "static":
                y = x.mean(2, keepdim=True).expand_as(x)
            else:
                y = resample(x, size)
            ref.append(x)
            out.append(y.clamp(0, 255).round())
        n = "-" if size is None else str(3 * size[0] * size[1] * size[2])
        print(f"{name:48s} {n:>14s} {psnr(torch.cat(ref).numpy(), torch.cat(out).numpy()):8.2f}")


if __name__ == "__main__":
    main()
