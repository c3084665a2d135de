#!/usr/bin/env python3
"""Checks the synthetic-motion training data (src/train/motion_data.py):
windows have the right shape and dtype, the camera really moves (frames
differ along the window, unlike a still), a pure pan of a known image lands
where the affine map says, and the mixed sampler honours its probability.

Exit status 77 (skip) only where PyTorch is absent.
"""

import sys

import train_test_env  # noqa: E402,F401  (src/train on the path; skip without PyTorch)
import torch  # noqa: E402

import numpy as np  # noqa: E402

import motion_data  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def smooth_image(rng, h, w):
    """A random smooth colour image (sum of a few low-frequency waves)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    im = np.zeros((h, w, 3), np.float32)
    for _ in range(6):
        fy, fx = rng.uniform(0.5, 4, 2) * 2 * np.pi / np.array([h, w])
        ph = rng.uniform(0, 2 * np.pi)
        im += rng.uniform(-40, 40, 3) * np.sin(fy * yy + fx * xx + ph)[..., None]
    return np.clip(128 + im, 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(3)
    stills = [smooth_image(rng, 300, 400), smooth_image(rng, 360, 240)]
    clip = np.stack([smooth_image(rng, 160, 160) for _ in range(20)])
    T, S = 32, 48
    ms = motion_data.MotionSampler(stills, [clip], T=T, size=S, seed=1, clip_p=0.5)
    moving = 0
    for i in range(12):
        fr, n = ms.sample()
        check(fr.shape == (T, S, S, 3) and fr.dtype == np.uint8 and n == T,
              f"window {i}: shape {fr.shape} dtype {fr.dtype} n {n}")
        d = np.abs(fr[0].astype(np.int16) - fr[-1].astype(np.int16)).mean()
        moving += d > 1.0
    check(moving >= 9, f"first and last frames differ in {moving} of 12 windows")

    # A pure pan with no zoom or rotation: theta = [[h, 0, c], [0, h, 0]]
    # samples the source shifted by c (normalised units); compare with a
    # direct crop of the source.
    src = smooth_image(rng, 64, 64)
    theta = torch.zeros(2, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 0.5              # half the source
    theta[1, 0, 2] = 0.5                               # frame 1: moved right
    out = motion_data.render_path(motion_data._to_tensor(src), theta, 32, widest=0.5)
    a = out[0].permute(1, 2, 0).numpy()
    b = out[1].permute(1, 2, 0).numpy()
    check(np.abs(a - src[16:48, 16:48]).max() < 1.0, "pan frame 0 = centre crop")
    check(np.abs(b - src[16:48, 32:64]).max() < 1.0, "pan frame 1 = crop moved right by 16")

    class Const:
        def __init__(self, v):
            self.v, self.rng = v, None

        def sample(self):
            return self.v, 1

    mix = motion_data.MixedSampler(Const("clip"), Const("motion"), 0.3, seed=5)
    got = [mix.sample()[0] for _ in range(2000)]
    frac = got.count("motion") / len(got)
    check(0.25 < frac < 0.35, f"mixed sampler: {frac:.3f} motion windows for p = 0.3")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
