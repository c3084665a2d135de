#!/usr/bin/python3
"""RGB PSNR between two raw RGB24 files of the same frame size: 8-bit RGB,
peak 255, the mean squared error over every pixel, channel and frame (the
metric `coordtok reconstruct` and src/train/evaluate.py print).

Usage: rgb_psnr.py ORIGINAL.rgb RECONSTRUCTED.rgb WIDTH HEIGHT
"""
import sys

import numpy as np


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    w, h = int(sys.argv[3]), int(sys.argv[4])
    frame = w * h * 3
    a = np.fromfile(sys.argv[1], np.uint8)
    b = np.fromfile(sys.argv[2], np.uint8)
    if a.size % frame or b.size % frame:
        sys.exit(f"the files are not whole {w}x{h} RGB24 frames")
    n = min(a.size, b.size) // frame
    if n == 0:
        sys.exit("no frames")
    mse = np.mean((a[:n * frame].astype(np.float64) - b[:n * frame]) ** 2)
    print(f"frames: {a.size // frame} original, {b.size // frame} reconstructed; "
          f"RGB PSNR over {n} frames: {10 * np.log10(255.0 ** 2 / max(mse, 1e-12)):.2f} dB")


if __name__ == "__main__":
    main()
