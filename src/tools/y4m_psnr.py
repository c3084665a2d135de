#!/usr/bin/python3
"""PSNR between two Y4M files of the same size (all planes, 8-bit).

Usage: y4m_psnr.py A.y4m B.y4m   -> prints frames, PSNR of Y and of all planes
"""
import sys

import numpy as np


def frames(path):
    with open(path, "rb") as f:
        header = f.readline().split()
        w = int(next(t[1:] for t in header if t.startswith(b"W")))
        h = int(next(t[1:] for t in header if t.startswith(b"H")))
        c = next((t[1:] for t in header if t.startswith(b"C")), b"420jpeg")
        size = w * h * 3 // 2 if c.startswith(b"420") else w * h * 3
        while True:
            tag = f.readline()
            if not tag:
                return
            buf = f.read(size)
            if len(buf) < size:
                return
            yield w, h, np.frombuffer(buf, np.uint8)


def main():
    a, b = list(frames(sys.argv[1])), list(frames(sys.argv[2]))
    n = min(len(a), len(b))
    if n == 0:
        sys.exit("no frames")
    w, h = a[0][0], a[0][1]
    ya = np.stack([f[2][: w * h] for f in a[:n]]).astype(np.float64)
    yb = np.stack([f[2][: w * h] for f in b[:n]]).astype(np.float64)
    fa = np.stack([f[2] for f in a[:n]]).astype(np.float64)
    fb = np.stack([f[2] for f in b[:n]]).astype(np.float64)
    psnr = lambda x, y: 10 * np.log10(255.0 ** 2 / max(np.mean((x - y) ** 2), 1e-12))
    print(f"frames: {len(a)} original, {len(b)} reconstructed; PSNR over {n} frames: "
          f"Y {psnr(ya, yb):.2f} dB, all planes {psnr(fa, fb):.2f} dB")


if __name__ == "__main__":
    main()
