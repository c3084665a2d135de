#!/usr/bin/python3
"""What tiling costs: encode and decode time per 128-frame window of the
default model at 128x128, 640x480 and 1280x720 (1, 20, 60 tiles), frames
per second, and whether each keeps up with a 30 fps live source; and a
picture of a decoded 640x480 frame beside the original, seams as they are.

Run from a build (a benchmark, not a test; on a quiet machine):
    PYTHONPATH=build/src/python COORDTOK_MODEL_DIR=src/models \\
        python3 tests/bench/tiles.py [--clip CLIP] [--png docs/tiles-seams.png]
The engine uses the machine's cores (OMP_NUM_THREADS); the same Model
calls the elements make (coordtokenc and coordtokdec run the same engine
functions, chunk by chunk).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

import coordtok

SIZES = [(128, 128), (640, 480), (1280, 720)]


def frames_of(clip, width, height, n):
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "f.rgb")
        subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={clip}", "!",
                        "decodebin", "!", "videoconvert", "!", "videoscale", "!",
                        f"video/x-raw,format=RGB,width={width},height={height}", "!",
                        "identity", f"eos-after={n}", "!", "filesink", f"location={raw}"],
                       check=True)
        a = np.fromfile(raw, np.uint8)
    k = a.size // (width * height * 3)
    return a[:k * width * height * 3].reshape(k, height, width, 3)[:n]


def png(frames_rgb, path):
    """Stacks frames vertically and writes a PNG with GStreamer."""
    img = np.ascontiguousarray(np.concatenate(frames_rgb, axis=0))
    h, w = img.shape[:2]
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "p.rgb")
        img.tofile(raw)
        subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={raw}", "!",
                        "rawvideoparse", "format=rgb", f"width={w}", f"height={h}",
                        "framerate=1/1", "!", "videoconvert", "!", "pngenc", "!",
                        "filesink", f"location={path}"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", default="/usr/lib/python3/dist-packages/imageio/resources/"
                    "images/cockatoo.mp4")
    ap.add_argument("--png", help="write the seams picture here")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    model = coordtok.Model(threads=args.threads)
    T, fps = model.T, 30.0
    window_s = T / fps
    print(f"default model {model.model_id}, T={T}, {model.width}x{model.height} tiles, "
          f"device {model.device}")
    print(f"a window is {window_s:.2f} s of 30 fps video\n")
    print("| frames | tiles | tokens | encode s/window | decode s/window | encode fps "
          "| decode fps | keeps up with 30 fps live |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for w, h in SIZES:
        frames = frames_of(args.clip, w, h, T)
        tok = model.encode(frames)
        tok = model.encode(frames)            # second run: warm
        enc = tok.encode_seconds
        import time
        t0 = time.perf_counter()
        out = model.decode(tok)
        dec = time.perf_counter() - t0
        tokens = tok.n_tiles * (tok.xy.shape[1] ** 2 + 2 * tok.yt.shape[1] * tok.yt.shape[2])
        keeps = []
        keeps.append("encode yes" if enc < window_s else "encode no")
        keeps.append("decode yes" if dec < window_s else "decode no")
        print(f"| {w}x{h} | {tok.n_tiles} | {tokens} | {enc:.2f} | {dec:.2f} | "
              f"{T / enc:.0f} | {T / dec:.1f} | {', '.join(keeps)} |", flush=True)
        if args.png and (w, h) == (640, 480):
            png([frames[T // 2], out[T // 2]], args.png)
            err = frames.astype(np.float64) - out
            psnr = 10 * np.log10(255.0 ** 2 / np.mean(err ** 2))
            print(f"  (picture: frame {T // 2}, original above, decoded below; "
                  f"RGB PSNR of the window {psnr:.2f} dB)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
