"""Synthetic camera and object motion for training windows.

The clips Debian ships are mostly filmed from a still camera (vtest.avi,
tree.avi, the mecavideo experiments), so a model trained on them alone
learns to put a window's static content into the xy plane and little into
the time planes.  The held-out cockatoo.mp4 is the opposite: a hand-held
camera and a bird that walks up to it (temporal mean of a window: 13-14 dB).
This module makes windows with the motion real video has:

* camera paths over still photographs that Debian ships (opencv-doc's
  examples, imageio's resources): pans, zooms in and out up to 3x within a
  window, slow rotations, hand-held shake, eased or back-and-forth speed;
* the same paths over real clips (each output frame cut from its own source
  frame), so real motion and camera motion combine;
* one or two "objects": elliptical cut-outs of another photograph that move
  and grow or shrink across the frame (occlusion, approaching objects).

All of it is rendered with ``torch.nn.functional.grid_sample`` (bilinear,
reflection padding), after an anti-aliased resize of the source so that the
widest view of the path is not aliased.

    python3 motion_data.py --preview /tmp/motion.png      # a strip per window
    python3 motion_data.py --val /tmp/val_motion.npy      # held-out val clip
"""

import argparse
import glob
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

# Photographs shipped by Debian packages.  Diagrams, text, calibration
# boards and tiny images are left out: they are not what cameras see.
STILL_GLOBS = [
    "/usr/share/doc/opencv-doc/examples/data/*.jpg",
    "/usr/share/doc/opencv-doc/examples/data/*.png",
    "/usr/share/doc/opencv-doc/examples/alphamat/input_images/*.jpg",
]
STILL_SKIP = ("left", "right", "chessboard", "digits", "sudoku", "alphabet",
              "imageText", "notes", "text", "logo", "Logo", "mask", "box",
              "gradient", "ellipses", "detect_blob", "ml.png", "pca_test",
              "cards", "board", "licenseplate", "ela_", "aloeGT", "graf",
              "pic", "Blender_Suzanne", "chicky")
# Held out for validation (never sampled for training): they make the clip
# that picks between training runs, so cockatoo.mp4 stays a pure test clip.
VAL_STILLS = [
    "/usr/lib/python3/dist-packages/imageio/resources/images/astronaut.png",
    "/usr/lib/python3/dist-packages/imageio/resources/images/chelsea.png",
]


def _decode_image(path):
    """Decodes an image file to uint8 (h, w, 3) RGB (Pillow, which
    python3-imageio depends on)."""
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def still_paths():
    """The training photographs (VAL_STILLS are not among them)."""
    paths = []
    for g in STILL_GLOBS:
        for p in sorted(glob.glob(g)):
            b = os.path.basename(p)
            if any(s in b for s in STILL_SKIP) or os.path.getsize(p) < 20000:
                continue
            paths.append(p)
    return paths


def load_stills(paths, max_side=640, cache=None):
    """uint8 arrays, larger side at most max_side.  ``cache`` (a folder)
    keeps them as .npy so a restart does not decode again."""
    out = []
    for p in paths:
        npy = None
        if cache:
            os.makedirs(cache, exist_ok=True)
            npy = os.path.join(cache, "still-" + os.path.splitext(os.path.basename(p))[0] + ".npy")
            if os.path.exists(npy):
                out.append(np.load(npy))
                continue
        try:
            im = _decode_image(p)
        except OSError as e:
            print(f"skip {p}: {e}")
            continue
        im = prepare_still(im, max_side)
        if im is None:
            continue
        if npy:
            np.save(npy, im)
        out.append(im)
    return out


def prepare_still(im, max_side=640):
    """A decoded photograph (h, w, 3) uint8 -> larger side at most max_side
    (anti-aliased); None for photographs too small to move a camera over."""
    if min(im.shape[:2]) < 200:
        return None
    s = max_side / max(im.shape[:2])
    if s < 1:
        t = _to_tensor(im)
        t = F.interpolate(t, scale_factor=s, mode="bilinear", antialias=True,
                          align_corners=False, recompute_scale_factor=False)
        im = t[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    return im


def cached_stills(cache):
    """The photographs already in ``cache`` (load_stills' or data_pack's
    still-*.npy), sorted by name: for machines without the Debian files."""
    return [np.load(f) for f in sorted(glob.glob(os.path.join(cache, "still-*.npy")))]


def _smooth_noise(rng, T, amp, knots=6):
    """Low-frequency noise over T frames (cubic-ish interpolation of knots)."""
    k = rng.normal(0, amp, knots + 1)
    x = np.linspace(0, knots, T)
    i = np.minimum(x.astype(int), knots - 1)
    f = x - i
    f = f * f * (3 - 2 * f)
    return k[i] * (1 - f) + k[i + 1] * f


def _progress(rng, T):
    """How far along its path the camera is at each frame, in [0, 1]."""
    t = np.linspace(0, 1, T)
    kind = rng.integers(4)
    if kind == 0:
        return t
    if kind == 1:
        return t * t * (3 - 2 * t)                      # ease in/out
    if kind == 2:
        return 0.5 - 0.5 * np.cos(math.pi * t * rng.uniform(1, 3))  # back and forth
    a, b = sorted(rng.uniform(0, 1, 2))                 # still, move, still
    return np.clip((t - a) / max(b - a, 1e-3), 0, 1)


def camera_path(rng, T, aspect):
    """Per-frame affine maps (T, 2, 3) from output to source coordinates in
    grid_sample's normalised units, for a source of width/height ``aspect``;
    also the widest view (crop side as a fraction of the source's short
    side) so the caller can pick an anti-aliased source resolution."""
    s0 = rng.uniform(0.3, 1.0)
    s1 = float(np.clip(s0 * math.exp(rng.uniform(-1.1, 1.1)), 0.2, 1.0))
    u = _progress(rng, T)
    s = s0 + (s1 - s0) * u
    # crop half-sizes in normalised units (short side = 1 when s = 1)
    hx = s * min(1.0, 1.0 / aspect)
    hy = s * min(1.0, aspect)
    c0 = rng.uniform(-1, 1, 2)
    c1 = rng.uniform(-1, 1, 2)
    cx = (c0[0] + (c1[0] - c0[0]) * u) * (1 - hx)
    cy = (c0[1] + (c1[1] - c0[1]) * u) * (1 - hy)
    if rng.random() < 0.5:                               # hand-held shake
        amp = rng.uniform(0.01, 0.06)
        cx = cx + _smooth_noise(rng, T, amp, knots=int(rng.integers(4, 24)))
        cy = cy + _smooth_noise(rng, T, amp, knots=int(rng.integers(4, 24)))
    ang = np.zeros(T)
    if rng.random() < 0.3:
        a0, a1 = rng.uniform(-0.2, 0.2, 2)
        ang = a0 + (a1 - a0) * u
    cos, sin = np.cos(ang), np.sin(ang)
    # output point (xo, yo) -> source pixel offset L/2 * R(ang) (xo, yo),
    # L = s * short side; in normalised units L/w = hx and L/h = hy
    theta = np.zeros((T, 2, 3), np.float32)
    theta[:, 0, 0] = hx * cos
    theta[:, 0, 1] = -hx * sin
    theta[:, 1, 0] = hy * sin
    theta[:, 1, 1] = hy * cos
    theta[:, 0, 2] = cx
    theta[:, 1, 2] = cy
    return torch.from_numpy(theta), float(s.max())


def _to_tensor(frames_u8):
    """uint8 (n, h, w, 3) or (h, w, 3) -> float (n, 3, h, w) in [0, 255]."""
    a = np.ascontiguousarray(frames_u8)
    if not a.flags.writeable:      # torch warns on read-only arrays
        a = a.copy()
    t = torch.from_numpy(a)
    if t.dim() == 3:
        t = t[None]
    return t.permute(0, 3, 1, 2).float()


def render_path(src, theta, size, widest):
    """Renders the camera path over src (n, 3, h, w) float (n = 1: a still,
    n = T: a clip, frame i from source frame i) -> (T, 3, size, size)."""
    T = theta.shape[0]
    h, w = src.shape[-2:]
    # the widest view covers widest * short side source pixels; resize so
    # that maps to ~1.25 output widths (less aliasing, not too blurry)
    scale = min(1.0, 1.25 * size / (widest * min(h, w)))
    if scale < 0.98:
        src = F.interpolate(src, scale_factor=scale, mode="bilinear", antialias=True,
                            align_corners=False, recompute_scale_factor=False)
    grid = F.affine_grid(theta, (T, 3, size, size), align_corners=False)
    if src.shape[0] == 1:
        src = src.expand(T, -1, -1, -1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)


def add_object(rng, frames, still):
    """Pastes an elliptical cut-out of ``still`` that moves across the
    frames (T, 3, S, S) and grows or shrinks (an object walking up to or
    away from the camera)."""
    T, _, S, _ = frames.shape
    src = _to_tensor(still)
    h, w = src.shape[-2:]
    # the cut-out: a random square of the still, resized to 2S
    side = int(min(h, w) * rng.uniform(0.3, 0.8))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    crop = F.interpolate(src[:, :, y0:y0 + side, x0:x0 + side], size=(2 * S, 2 * S),
                         mode="bilinear", antialias=True, align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 2 * S), torch.linspace(-1, 1, 2 * S),
                            indexing="ij")
    ex, ey = rng.uniform(0.6, 1.0, 2)
    mask = (((xx / ex) ** 2 + (yy / ey) ** 2) < 1).float()[None, None]
    mask = F.avg_pool2d(mask, 9, 1, 4)                   # soft edge
    sprite = torch.cat([crop, mask * 255.0], 1)          # alpha in channel 3
    u = torch.from_numpy(_progress(rng, T)).float()
    r0 = rng.uniform(0.15, 0.6)
    r1 = float(np.clip(r0 * math.exp(rng.uniform(-1.2, 1.2)), 0.1, 1.2))
    r = r0 + (r1 - r0) * u                               # object half-size / frame half-size
    p0 = torch.tensor(rng.uniform(-1, 1, 2), dtype=torch.float32)
    p1 = torch.tensor(rng.uniform(-1, 1, 2), dtype=torch.float32)
    pos = p0[None] + (p1 - p0)[None] * u[:, None]
    theta = torch.zeros(T, 2, 3)
    theta[:, 0, 0] = 1 / r
    theta[:, 1, 1] = 1 / r
    theta[:, :, 2] = -pos / r[:, None]
    grid = F.affine_grid(theta, (T, 4, S, S), align_corners=False)
    spr = F.grid_sample(sprite.expand(T, -1, -1, -1), grid, mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    a = spr[:, 3:4] / 255.0
    return frames * (1 - a) + spr[:, :3] * a


class MotionSampler:
    """Windows with camera and object motion (see the module docstring).
    ``clips`` are uint8 (n, h, w, 3) arrays (larger decodes give more room
    for the camera); ``stills`` uint8 (h, w, 3)."""

    def __init__(self, stills, clips=(), T=128, size=128, seed=0, clip_p=0.35,
                 object_p=0.4):
        self.stills, self.clips = list(stills), [c for c in clips if c.shape[0] >= 16]
        self.T, self.size = T, size
        self.rng = np.random.default_rng(seed)
        self.clip_p, self.object_p = clip_p, object_p

    def sample(self):
        T, S, rng = self.T, self.size, self.rng
        if self.clips and rng.random() < self.clip_p:
            clip = self.clips[rng.integers(len(self.clips))]
            n = min(T, clip.shape[0])
            t0 = int(rng.integers(0, clip.shape[0] - n + 1))
            src = _to_tensor(clip[t0:t0 + n])
            if n < T:   # short clips: play forward then backward
                idx = np.arange(T) % (2 * n - 2 if n > 1 else 1)
                idx = np.where(idx < n, idx, 2 * n - 2 - idx)
                src = src[torch.from_numpy(idx)]
        else:
            src = _to_tensor(self.stills[rng.integers(len(self.stills))])
        aspect = src.shape[-1] / src.shape[-2]
        theta, widest = camera_path(rng, T, aspect)
        fr = render_path(src, theta, S, widest)
        if rng.random() < self.object_p:
            for _ in range(int(rng.integers(1, 3))):
                fr = add_object(rng, fr, self.stills[rng.integers(len(self.stills))])
        if rng.random() < 0.5:
            fr = fr.flip(-1)
        out = fr.permute(0, 2, 3, 1).round().clamp(0, 255).byte().numpy()
        return out, T


class MixedSampler:
    """Draws from ``motion`` with probability p, else from ``base``."""

    def __init__(self, base, motion, p, seed=0):
        self.base, self.motion, self.p = base, motion, p
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed):
        self.rng = np.random.default_rng(seed)
        self.base.rng = np.random.default_rng(seed + 1)
        self.motion.rng = np.random.default_rng(seed + 2)

    def sample(self):
        return (self.motion if self.rng.random() < self.p else self.base).sample()


def validation_clip(seed=4242, windows=2, T=128, size=128, cache=None):
    """The validation clip: camera paths (with objects) over the held-out
    stills only, ``windows`` windows concatenated -> uint8 (windows*T, S, S, 3)."""
    stills = load_stills(VAL_STILLS, cache=cache)
    ms = MotionSampler(stills, (), T, size, seed, object_p=0.5)
    return np.concatenate([ms.sample()[0] for _ in range(windows)])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preview", help="PNG: 8 frames of each of --n windows")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--val", help="write the validation clip (.npy uint8)")
    ap.add_argument("--cache", default="/tmp/coordtok-data")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.preview:
        stills = load_stills(still_paths(), cache=a.cache)
        print(f"{len(stills)} stills")
        ms = MotionSampler(stills, (), seed=a.seed)
        rows = []
        for _ in range(a.n):
            fr, _n = ms.sample()
            rows.append(np.concatenate(list(fr[::18][:8]), 1))
        from PIL import Image
        Image.fromarray(np.concatenate(rows, 0)).save(a.preview)
    if a.val:
        v = validation_clip(cache=a.cache)
        np.save(a.val, v)
        print(f"{a.val}: {v.shape}")


if __name__ == "__main__":
    main()
