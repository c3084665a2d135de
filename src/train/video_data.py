"""Video data for training and evaluation: decode clips with GStreamer to
RGB frames of a fixed size, cache them as uint8 .npy, sample 128-frame
training windows.

    python3 video_data.py --cache /tmp/coordtok-data        # build the cache
    python3 video_data.py --decode clip.mp4 --size 128 --frames 256 --out x.npy

Decoding runs ``gst-launch-1.0 filesrc ! decodebin ! videoconvert !
videoscale ! video/x-raw,format=RGB,width=S,height=S ! filesink`` (frames are
scaled to S x S without keeping the aspect ratio, as the evaluation scales
cockatoo.mp4 to 128x128).

The held-out clip cockatoo.mp4 is NEVER used for training (HELD_OUT).
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

HELD_OUT = "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"

# Clips shipped by Debian packages (opencv-doc, python3-mecavideo, imageio).
TRAIN_GLOBS = [
    "/usr/share/doc/opencv-doc/examples/data/*.avi",
    "/usr/share/pymecavideo/data/video/*",
    "/usr/lib/python3/dist-packages/imageio/resources/images/*.mp4",
]
# GStreamer test patterns with motion (videotestsrc / synthetic).
# (no snow, zone-plate, pinwheel or spokes: noise and aliasing-prone
# high frequencies that only make the loss spiky)
TEST_PATTERNS = ["ball", "smpte", "gradient", "circular", "colors"]


def training_clips():
    clips = []
    for g in TRAIN_GLOBS:
        for p in sorted(glob.glob(g)):
            if os.path.realpath(p) == os.path.realpath(HELD_OUT):
                continue
            if "_bugy" in p:  # a damaged copy of Megamind.avi
                continue
            clips.append(p)
    return clips


def decode(path, size, max_frames=None, width=None):
    """Decodes a video file to uint8 (n, size, size, 3) RGB with GStreamer."""
    w = width or size
    with tempfile.TemporaryDirectory() as td:
        out = os.path.join(td, "frames.rgb")
        pipe = ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!",
                "decodebin", "!", "videoconvert", "!", "videoscale",
                "method=bilinear", "add-borders=false", "!",
                f"video/x-raw,format=RGB,width={w},height={size},pixel-aspect-ratio=1/1",
                "!", "filesink", f"location={out}"]
        if max_frames:
            # identity eos-after is not everywhere; cut afterwards instead
            pass
        subprocess.run(pipe, check=True, stdout=subprocess.DEVNULL)
        raw = np.fromfile(out, dtype=np.uint8)
    fsz = size * w * 3
    n = raw.size // fsz
    frames = raw[: n * fsz].reshape(n, size, w, 3)
    if max_frames:
        frames = frames[:max_frames]
    return frames


def test_pattern(pattern, size, n):
    """A GStreamer videotestsrc clip (n frames, size x size)."""
    with tempfile.TemporaryDirectory() as td:
        out = os.path.join(td, "frames.rgb")
        extra = []
        if pattern == "ball":
            extra = ["motion=wavy", "animation-mode=frames"]
        if pattern in ("zone-plate",):
            extra = ["kt=3", "kx2=20", "ky2=20", "kxt=2"]
        subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", f"pattern={pattern}",
                        f"num-buffers={n}", *extra, "!",
                        f"video/x-raw,format=RGB,width={size},height={size}", "!",
                        "filesink", f"location={out}"], check=True,
                       stdout=subprocess.DEVNULL)
        raw = np.fromfile(out, dtype=np.uint8)
    return raw.reshape(-1, size, size, 3)


def build_cache(cache_dir, sizes=(128, 192, 256), patterns=True):
    """Decodes every training clip at several sizes into cache_dir/*.npy.
    Larger sizes are cropped to 128x128 at sampling time (zoomed-in views)."""
    os.makedirs(cache_dir, exist_ok=True)
    index = []
    for clip in training_clips():
        base = os.path.splitext(os.path.basename(clip))[0]
        for s in sizes:
            out = os.path.join(cache_dir, f"{base}_{s}.npy")
            if not os.path.exists(out):
                try:
                    fr = decode(clip, s)
                except subprocess.CalledProcessError as e:
                    print(f"skip {clip}: {e}", file=sys.stderr)
                    break
                np.save(out, fr)
            fr = np.load(out, mmap_mode="r")
            print(f"{clip} @ {s}: {fr.shape[0]} frames", file=sys.stderr)
            index.append(out)
    if patterns:
        for p in TEST_PATTERNS:
            out = os.path.join(cache_dir, f"pattern-{p}_128.npy")
            if not os.path.exists(out):
                np.save(out, test_pattern(p, 128, 160))
            index.append(out)
    return index


class WindowSampler:
    """Random 128-frame training windows from cached clips.

    Augmentations: random temporal offset, random 128x128 crop of larger
    decodes, horizontal flip, temporal reversal of short clips' padding is
    NOT done: clips shorter than T give partial windows (n_frames < T,
    padded with -3.0 by the caller), which also trains end-of-stream
    windows.  ``partial_p`` makes some long-clip windows partial too."""

    def __init__(self, files, T=128, size=128, seed=0, weights=None, partial_p=0.05,
                 pattern_p=0.05):
        self.T, self.size = T, size
        self.rng = np.random.default_rng(seed)
        self.clips = [np.load(f) for f in files if "pattern-" not in os.path.basename(f)]
        self.patterns = [np.load(f) for f in files if "pattern-" in os.path.basename(f)]
        self.names = [os.path.basename(f) for f in files if "pattern-" not in os.path.basename(f)]
        # weight clips by the square root of their length (long clips such as
        # vtest.avi would dominate otherwise)
        w = np.array([np.sqrt(c.shape[0]) for c in self.clips], dtype=np.float64)
        self.p = w / w.sum()
        self.partial_p = partial_p
        self.pattern_p = pattern_p

    def sample(self):
        """Returns (uint8 frames (n, size, size, 3), n) with n <= T."""
        T, S, rng = self.T, self.size, self.rng
        if self.patterns and rng.random() < self.pattern_p:
            clip = self.patterns[rng.integers(len(self.patterns))]
        else:
            clip = self.clips[rng.choice(len(self.clips), p=self.p)]
        n = min(T, clip.shape[0])
        if rng.random() < self.partial_p:
            n = int(rng.integers(max(8, n // 4), n + 1))
        t0 = int(rng.integers(0, clip.shape[0] - n + 1))
        stride = 1
        if clip.shape[0] >= 2 * T and rng.random() < 0.15:  # faster motion
            stride = 2
            t0 = int(rng.integers(0, clip.shape[0] - 2 * n + 1))
        h, w = clip.shape[1], clip.shape[2]
        y0 = int(rng.integers(0, h - S + 1))
        x0 = int(rng.integers(0, w - S + 1))
        fr = clip[t0:t0 + n * stride:stride, y0:y0 + S, x0:x0 + S]
        if rng.random() < 0.5:
            fr = fr[:, :, ::-1]
        return np.ascontiguousarray(fr), n


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", help="build the training cache in this folder")
    ap.add_argument("--decode", help="decode one clip")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.cache:
        idx = build_cache(a.cache)
        print("\n".join(idx))
    if a.decode:
        fr = decode(a.decode, a.size, a.frames or None)
        np.save(a.out, fr)
        print(f"{a.decode}: {fr.shape}")


if __name__ == "__main__":
    main()
