#!/usr/bin/env python3
"""Trains a small CoordTok on CPU (PyTorch 1.13) or on a GPU (``--device
cuda``, bf16 autocast, PyTorch 2.x) and exports it for the engine.

As in the paper: each step encodes whole 128-frame windows and decodes only
randomly chosen patch coordinates, with an L2 loss on pixel values in
[-1, 1].  The decoder's sequences are exactly what inference decodes
(``--slice`` queries = ``--slice / (NX*NY)`` whole frames, contiguous, in
(it, ix, iy) order): each training sequence is a random group of
consecutive frames of the window, all of its patches, so attention
statistics at training and inference time are the same.  The slice size is
recorded in the export as ``coordtok.default_slice``.

    /usr/bin/python3 src/train/train.py --data /tmp/coordtok-data \\
        --out /tmp/ct-run --steps 4000 --minutes 85
    /usr/bin/python3 src/train/train.py --out /tmp/ct-run --resume   # continue
    /usr/bin/python3 src/train/train.py --out /tmp/ct-run --export-only \\
        --export src/models/coordtok-default.safetensors

Checkpoints (``OUT/last.pt``, every ``--ckpt-every`` steps and at the end)
hold the model, optimizer, step, RNG states and the configuration.
``OUT/curve.tsv`` has the training curve (loss, validation PSNR, windows
seen, time waiting for data) at every ``--eval-every`` steps.

On a GPU the windows are sampled by ``--workers`` processes (the samplers are
numpy and CPU PyTorch), batched, and moved to the device; the loss and the
optimizer are fp32, the forward pass runs under bf16 autocast (``--amp``).
src/train/gpu-run.sh is the whole lent-GPU run.
"""

import argparse
import contextlib
import dataclasses
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from coordtok_model import (CoordTok, CoordTokConfig, export_safetensors,  # noqa: E402
                            load_safetensors_model, patch_coords, to_model_space, PAD_VALUE)

# The default model: CoordTok-L's token layout, small widths and depths.
DEFAULT_MODEL = dict(
    T=128, H=128, W=128, enc_pt=8, enc_pxy=16, enc_dim=192, enc_heads=4,
    enc_vit_layers=2, enc_cross_layers=2, rxy=16, rt=32, channels=8,
    qxy=2, qt=4, dec_dim=128, dec_heads=4, dec_layers=4, dec_pxy=8, dec_pt=1,
    default_slice=256)

DEFAULT_VAL_CLIP = "/tmp/val_motion.npy"

# A tiny configuration for tests.
TINY_MODEL = dict(
    T=16, H=32, W=32, enc_pt=4, enc_pxy=8, enc_dim=32, enc_heads=2,
    enc_vit_layers=1, enc_cross_layers=1, rxy=8, rt=8, channels=4,
    qxy=4, qt=4, dec_dim=32, dec_heads=2, dec_layers=1, dec_pxy=4, dec_pt=1,
    default_slice=64)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="run folder (checkpoints, log)")
    ap.add_argument("--data", default="/tmp/coordtok-data",
                    help="clip cache (video_data.py --cache); built if missing")
    ap.add_argument("--model", default="{}",
                    help="JSON of config fields overriding the default model")
    ap.add_argument("--tiny", action="store_true", help="tiny config (tests)")
    ap.add_argument("--synthetic", action="store_true",
                    help="train on synthetic moving patterns (tests, no video)")
    ap.add_argument("--synthetic-pool", type=int, default=0,
                    help="reuse this many synthetic clips (0: a new one each time)")
    ap.add_argument("--motion", type=float, default=0.5,
                    help="fraction of windows with synthetic camera/object motion "
                         "(motion_data.py; 0: the clips only)")
    ap.add_argument("--init-from",
                    help="start from these weights (fine-tuning; new optimizer and "
                         "schedule, no least-squares init): a checkpoint .pt, or a "
                         ".safetensors export (its configuration is used)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"],
                    help="autocast of the forward pass (auto: bf16 on cuda, off on cpu)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the training forward pass (PyTorch 2.x; "
                         "ignored, with a note, where torch.compile is missing)")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes that sample training windows (0: in this process)")
    ap.add_argument("--batch", type=int, default=0,
                    help="windows per step (0: 1 on cpu, 32 on cuda)")
    ap.add_argument("--seqs", type=int, default=8,
                    help="decoder sequences (slices) per window per step")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--minutes", type=float, default=0,
                    help="stop (and export) after this much training time")
    ap.add_argument("--stop-at", type=float, default=0,
                    help="also stop by this wall-clock time (seconds since the epoch; "
                         "the learning-rate schedule ends there if it comes first)")
    ap.add_argument("--aux", type=float, default=1.0,
                    help="weight of the auxiliary plane loss at step 0")
    ap.add_argument("--aux-steps", type=int, default=800,
                    help="the auxiliary weight decays linearly to 0 over these steps")
    ap.add_argument("--no-data-init", action="store_true",
                    help="skip the least-squares init of the read-outs")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--wd", type=float, default=0.02)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=0,
                    help="PSNR on --eval-clip every N steps (0: never)")
    ap.add_argument("--eval-clip", default="/tmp/cockatoo_128.npy",
                    help=".npy uint8 (n,H,W,3) held-out frames")
    ap.add_argument("--val-clip", default=DEFAULT_VAL_CLIP,
                    help=".npy uint8 validation frames, evaluated with --eval-clip "
                         "(motion_data.py --val; picks between runs); "
                         "default DATA/val/val_motion.npy where it exists")
    ap.add_argument("--export", help="write the engine's safetensors here at the end")
    ap.add_argument("--export-dtype", default="F16", choices=["F32", "F16", "BF16"])
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--bench", action="store_true", help="time a few steps and exit")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


# ---------------------------------------------------------------------------


class SyntheticSampler:
    """Moving coloured rectangles and gradients (no video files needed)."""

    def __init__(self, T, size, seed, pool=0):
        self.T, self.size = T, size
        self.rng = np.random.default_rng(seed)
        self.pool = [self.make() for _ in range(pool)]

    def sample(self):
        if self.pool:
            return self.pool[self.rng.integers(len(self.pool))]
        return self.make()

    def make(self):
        T, S, rng = self.T, self.size, self.rng
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
        bg = rng.uniform(0, 255, 3).astype(np.float32)
        gx = rng.uniform(-80, 80, 3).astype(np.float32)
        fr = np.empty((T, S, S, 3), np.float32)
        fr[:] = bg + gx * xx[..., None]
        for _ in range(3):
            col = rng.uniform(0, 255, 3)
            w, h = rng.integers(S // 6, S // 2, 2)
            x0, y0 = rng.uniform(0, S - w), rng.uniform(0, S - h)
            vx, vy = rng.uniform(-1, 1, 2) * S / T
            for t in range(T):
                x = int(x0 + vx * t) % S
                y = int(y0 + vy * t) % S
                fr[t, y:y + h, x:x + w] = col
        return np.clip(fr, 0, 255).astype(np.uint8), T


def make_sampler(args, cfg):
    if args.synthetic:
        return SyntheticSampler(cfg.T, cfg.H, args.seed, args.synthetic_pool)
    from video_data import WindowSampler, build_cache
    files = sorted(glob.glob(os.path.join(args.data, "*.npy")))
    # never train on a validation clip that was put beside the clips
    files = [f for f in files if not os.path.basename(f).startswith("val_")]
    if not files:
        files = build_cache(args.data)
    base = WindowSampler(files, T=cfg.T, size=cfg.H, seed=args.seed)
    if args.motion <= 0:
        return base
    import motion_data
    still_dir = os.path.join(args.data, "stills")
    paths = motion_data.still_paths()
    # without the Debian files (a GPU machine): the photographs of the data pack
    stills = (motion_data.load_stills(paths, cache=still_dir) if paths
              else motion_data.cached_stills(still_dir))
    if not stills:
        raise SystemExit(f"--motion {args.motion}: no photographs (neither the Debian "
                         f"files nor {still_dir}/still-*.npy)")
    # camera paths over real clips use the largest decodes (more room to move);
    # a data pack has only the 128x128 ones
    big = [np.load(f) for f in files if f.endswith("_256.npy")] or \
        [np.load(f) for f in files if f.endswith("_128.npy") and "pattern-" not in f]
    motion = motion_data.MotionSampler(stills, big, T=cfg.T, size=cfg.H, seed=args.seed + 1)
    return motion_data.MixedSampler(base, motion, args.motion, seed=args.seed + 2)


def window_u8(cfg, fr, n):
    """A sampled window as the uint8 (T, H, W, 3) tensor that travels from
    the sampling workers (frames >= n are zero; prepare_batch pads them)."""
    u8 = torch.zeros((cfg.T, cfg.H, cfg.W, 3), dtype=torch.uint8)
    u8[:n] = torch.from_numpy(np.ascontiguousarray(fr[:n]))
    return u8


def prepare_batch(model, u8, ns, seqs, rng, device="cpu"):
    """uint8 windows (B, T, H, W, 3) with n_frames (B,) -> video
    (B,T,H,W,3) in model space on ``device`` (frames >= n padded with -3.0),
    n_frames (B,), coords (B, seqs*S, 3), target (B, seqs*S, patch_values)
    for sequences of S = cfg.slice queries made of whole consecutive frames
    (S % (NX*NY) == 0): ``seqs`` random groups of consecutive frames per
    window, aligned like inference slices (starting at multiples of the
    group size), all patches of each in (it, ix, iy) order."""
    cfg = model.cfg
    B = u8.shape[0]
    per_frame = cfg.nx * cfg.ny
    fps = max(1, cfg.slice // per_frame)        # decoded frames (it) per sequence
    pt, p = cfg.dec_pt, cfg.dec_pxy
    u8 = u8.to(device, non_blocking=True)
    ns_dev = ns.to(device)
    video = to_model_space(u8)
    pad = torch.arange(cfg.T, device=device)[None] >= ns_dev[:, None]
    video = video.masked_fill(pad[:, :, None, None, None], PAD_VALUE)
    idx = np.empty((B, seqs * fps), np.int64)
    for b in range(B):
        n_it = -(-int(ns[b]) // pt)
        n_groups = max(1, n_it // fps)
        starts = rng.choice(n_groups, size=seqs, replace=n_groups < seqs) * fps
        idx[b] = np.minimum((starts[:, None] + np.arange(fps)[None]).reshape(-1), n_it - 1)
    idx = torch.from_numpy(idx).to(device)
    # patches as (it, ix, iy, pt*p*p*3) with (dt, dx, dy, rgb) order, only
    # for the chosen frame groups
    groups = video.reshape(B, cfg.nt, pt * cfg.H * cfg.W * 3)
    sel = torch.gather(groups, 1, idx[:, :, None].expand(-1, -1, groups.shape[-1]))
    sel = sel.reshape(B, -1, pt, cfg.nx, p, cfg.ny, p, 3).permute(0, 1, 3, 5, 2, 4, 6, 7)
    target = sel.reshape(B, -1, cfg.patch_values)
    allc = patch_coords(cfg, cfg.T).to(device).reshape(cfg.nt, per_frame, 3)
    coords = allc[idx].reshape(B, -1, 3)
    return video, ns_dev, coords, target


def make_batch(sampler, model, batch, seqs, rng, device="cpu"):
    """``batch`` windows from ``sampler``, then prepare_batch."""
    cfg = model.cfg
    u8, ns = [], []
    for _ in range(batch):
        fr, n = sampler.sample()
        u8.append(window_u8(cfg, fr, n))
        ns.append(n)
    return prepare_batch(model, torch.stack(u8), torch.tensor(ns), seqs, rng, device)


def reseed_sampler(sampler, seed):
    """New random streams for a sampler (after resume, in each worker)."""
    if hasattr(sampler, "reseed"):
        sampler.reseed(seed)
    elif hasattr(sampler, "rng"):
        sampler.rng = np.random.default_rng(seed)


class WindowStream(torch.utils.data.IterableDataset):
    """Endless uint8 windows for a DataLoader, one at a time; each worker
    process draws its own random stream (seed + worker id).  ``as_numpy``
    sends numpy arrays, which travel through the workers' pipes instead of
    shared memory (for machines with a small /dev/shm)."""

    def __init__(self, sampler, cfg, seed, as_numpy=False):
        super().__init__()
        self.sampler, self.cfg, self.seed, self.as_numpy = sampler, cfg, seed, as_numpy

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        if info is not None:
            torch.set_num_threads(1)   # workers share the cores
            reseed_sampler(self.sampler, self.seed + 1000 * (info.id + 1))
        while True:
            fr, n = self.sampler.sample()
            w = window_u8(self.cfg, fr, n)
            yield (w.numpy() if self.as_numpy else w), n


def _as_is(item):
    return item


def shm_free_bytes(path="/dev/shm"):
    try:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
    except OSError:
        return 0


def window_batches(sampler, cfg, args, seed, device, log=None):
    """Iterator over (uint8 (B, T, H, W, 3) on ``device``, n_frames (B,) on
    the CPU).  Windows travel one by one (a 32-window batch is 200 MB) and
    are stacked on the device."""
    as_numpy = args.workers > 0 and shm_free_bytes() < (1 << 30)
    if as_numpy and log:
        log.write(f"# /dev/shm has {shm_free_bytes() >> 20} MiB free: windows travel "
                  "through pipes\n")
    loader = torch.utils.data.DataLoader(
        WindowStream(sampler, cfg, seed, as_numpy), batch_size=None, collate_fn=_as_is,
        num_workers=args.workers, pin_memory=device.type == "cuda" and not as_numpy,
        persistent_workers=args.workers > 0)
    it = iter(loader)
    while True:
        ws, ns = [], []
        for _ in range(args.batch):
            w, n = next(it)
            if not torch.is_tensor(w):
                w = torch.from_numpy(w)
            ws.append(w.to(device, non_blocking=True))
            ns.append(int(n))
        yield torch.stack(ws), torch.tensor(ns)


def plane_targets(video, cfg):
    """Auxiliary targets for the first training steps: the window's colours
    averaged onto each plane's grid (xy: over time, yt: over rows x, xt:
    over columns y), in channels 0-2.  Padded frames are excluded by the
    caller's mask.  Returns three (B, R1, R2, 3) tensors."""
    import torch.nn.functional as F
    x = video.clamp(-1, 1).permute(0, 4, 1, 2, 3)  # (B, 3, T, H, W)
    xy = F.adaptive_avg_pool2d(x.mean(2), (cfg.rxy, cfg.rxy))
    yt = F.adaptive_avg_pool2d(x.mean(3), (cfg.rt, cfg.rxy))
    xt = F.adaptive_avg_pool2d(x.mean(4), (cfg.rt, cfg.rxy))
    return tuple(z.permute(0, 2, 3, 1) for z in (xy, yt, xt))


def aux_loss(planes, video, cfg):
    """L2 between plane channels 0-2 and plane_targets: a dense, direct
    signal that teaches the encoder to route local content into the planes
    long before the reconstruction loss alone would (training aid only;
    the weight decays to 0, the exported model is plain CoordTok)."""
    tg = plane_targets(video, cfg)
    return sum(torch.mean((z[..., :3] - t) ** 2) for z, t in zip(planes, tg)) / 3


def _ridge(X, Y, lam=1e-2):
    """Least squares with a bias column: returns (W (out, in), b (out))."""
    X = X.double()
    Xa = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], 1)
    A = Xa.t() @ Xa + lam * torch.eye(Xa.shape[1], dtype=X.dtype, device=X.device)
    sol = torch.linalg.solve(A, Xa.t() @ Y.double())
    return sol[:-1].t().float(), sol[-1].float()


@torch.no_grad()
def data_init(model, sampler, n_windows=64, frames=2, log=None):
    """Data-dependent initialisation of the two linear read-outs, fitted by
    least squares on a few training windows (like LSUV-style inits, the
    network itself is unchanged):

    * encoder projectors: plane channels 0-2 <- the window's colours
      averaged onto the plane grid (plane_targets); other channels start
      near zero.  The local cross-attention init makes this linearly
      available in the query tokens from step 0;
    * decoder projector: pixels <- the decoder's final features.

    Training then starts from a blurry but real reconstruction instead of
    spending its first thousand steps escaping the mean-colour solution."""
    cfg = model.cfg
    was = model.training
    model.eval()
    enc = model.encoder
    rng = np.random.default_rng(12345)
    dev = next(model.parameters()).device
    batches = [make_batch(sampler, model, 1, frames, rng, dev) for _ in range(n_windows)]
    (g1, g2), (t1, t2), _ = cfg.query_grids
    splits = [g1 * g2, t1 * t2, t1 * t2]
    sizes = [(cfg.qxy, cfg.qxy), (cfg.qt, cfg.qxy), (cfg.qt, cfg.qxy)]
    grids = [(g1, g2), (t1, t2), (t1, t2)]
    projs = [enc.projectors_xy, enc.projectors_yt, enc.projectors_xt]
    Xs, Ys = [[], [], []], [[], [], []]
    for video, ns, _, _ in batches:
        feats = enc.encoder(video)
        memory = feats + enc.cross_pos_emb
        q = enc.transformer(model.query_tokens(), memory, model.memory_mask(ns, 1, dev))[0]
        tg = plane_targets(video, cfg)
        start = 0
        for k in range(3):
            G1, G2 = grids[k]
            P1, P2 = sizes[k]
            Xs[k].append(q[start:start + splits[k]])
            t = tg[k][0].reshape(G1, P1, G2, P2, 3).permute(0, 2, 1, 3, 4)
            Ys[k].append(t.reshape(G1 * G2, P1 * P2 * 3))
            start += splits[k]
    for k in range(3):
        W, b = _ridge(torch.cat(Xs[k]), torch.cat(Ys[k]), lam=float(os.environ.get("CT_LAM_ENC", "10")))
        P1, P2 = sizes[k]
        C = cfg.channels
        proj = projs[k]
        proj.weight.normal_(0, 0.01)
        proj.bias.zero_()
        rows = torch.tensor([(i * C + c) for i in range(P1 * P2) for c in range(3)], device=dev)
        proj.weight[rows] = W
        proj.bias[rows] = b
    # decoder read-out on the new planes
    X, Y = [], []
    for video, ns, coords, target in batches:
        planes = model.encode(video, ns)
        h = model.embed_queries(planes, coords)
        dt = model.decoder.transformer
        h = h.reshape(-1, cfg.slice, h.shape[-1])
        for blk in dt.layers:
            h = blk(h)
        X.append(dt.norm(h).reshape(-1, h.shape[-1]))
        Y.append(target.reshape(-1, target.shape[-1]))
    W, b = _ridge(torch.cat(X), torch.cat(Y), lam=float(os.environ.get("CT_LAM_DEC", "1000")))
    model.decoder.projector.weight.copy_(W)
    model.decoder.projector.bias.copy_(b)
    losses = []
    for video, ns, coords, target in batches[:8]:
        out = model.decode(model.encode(video, ns), coords, seq=cfg.slice)
        losses.append(float(torch.mean((out - target) ** 2)))
    msg = f"data init: loss on {min(8, n_windows)} windows {np.mean(losses):.4f}"
    if log:
        log.write("# " + msg + "\n")
    model.train(was)
    return msg


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.dim() < 2 or "pos_emb" in name or "pos_embed" in name or "token" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": wd},
            {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step, args, total, time_frac=0.0):
    """Linear warmup, then cosine to --min-lr.  The cosine runs over steps or,
    with --minutes, over training time, whichever ends first, so that a run
    cut by its time budget still ends annealed."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    f = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
    f = max(f, min(1.0, time_frac))
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * f))


def psnr(a, b):
    """PSNR in dB of uint8-range arrays (or floats in [0, 255])."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-12))


@torch.no_grad()
def reconstruct(model, frames_u8, slice=None, batch=16):
    """Encodes and decodes uint8 frames (n, H, W, 3) window by window with
    PyTorch (fp32, on the model's device; ``batch`` decoder slices at a
    time); returns uint8 frames."""
    cfg = model.cfg
    dev = next(model.parameters()).device
    out = []
    was = model.training
    model.eval()
    for t0 in range(0, frames_u8.shape[0], cfg.T):
        fr = frames_u8[t0:t0 + cfg.T]
        n = fr.shape[0]
        v = torch.full((1, cfg.T, cfg.H, cfg.W, 3), PAD_VALUE, device=dev)
        v[0, :n] = to_model_space(fr).to(dev)
        planes = model.encode(v, n)
        rec = model.rasterize(planes, n, slice=slice, batch=batch)
        out.append(((rec + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy())
    model.train(was)
    return np.concatenate(out)


# ---------------------------------------------------------------------------


class Progress:
    """A one-line progress bar with loss and ETA (plain lines when not a tty)."""

    def __init__(self, total, start, log, quiet=False):
        self.total, self.start_step = total, start
        self.t0 = time.time()
        self.log = log
        self.tty = sys.stderr.isatty() and not quiet
        self.quiet = quiet
        self.ema = None

    def update(self, step, loss, lr, extra=""):
        self.ema = loss if self.ema is None else 0.98 * self.ema + 0.02 * loss
        el = time.time() - self.t0
        done = step + 1 - self.start_step
        rate = el / max(done, 1)
        eta = rate * (self.total - step - 1)
        frac = (step + 1) / self.total
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        psnr_ = 10 * math.log10(4.0 / max(self.ema, 1e-12))
        line = (f"[{bar}] {step + 1}/{self.total} loss {loss:.4f} (ema {self.ema:.4f}, "
                f"~{psnr_:.2f} dB) lr {lr:.2e} {rate:.2f}s/it "
                f"elapsed {el / 60:.1f}m ETA {eta / 60:.1f}m {extra}")
        if self.tty:
            sys.stderr.write("\r" + line[:200])
            sys.stderr.flush()
        if self.log and ((step + 1) % 10 == 0 or extra):
            self.log.write(line + "\n")
            self.log.flush()
        if not self.tty and not self.quiet and ((step + 1) % 10 == 0 or extra):
            print(line, file=sys.stderr, flush=True)


def save_ckpt(path, model, opt, step, args, history, seconds):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "step": step, "seconds": seconds, "config": dataclasses.asdict(model.cfg),
                "args": vars(args), "history": history,
                "rng": {"torch": torch.get_rng_state(),
                        "numpy": np.random.get_state()}}, tmp)
    os.replace(tmp, path)


class TrainForward(torch.nn.Module):
    """The forward pass of a training step (what --compile compiles)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, video, ns, coords):
        planes = self.model.encode(video, ns)
        return planes, self.model.decode(planes, coords, seq=self.model.cfg.slice)


def pick_device(name):
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {name}: this PyTorch ({torch.__version__}) sees no CUDA GPU")
        torch.backends.cuda.matmul.allow_tf32 = True   # the fp32 parts (data init, eval)
        torch.backends.cudnn.allow_tf32 = True
    elif dev.type != "cpu":
        raise SystemExit(f"--device {name}: cpu, cuda or cuda:N")
    return dev


def autocast_for(args, device):
    """A context factory: bf16 autocast (on cuda by default) or nothing."""
    amp = args.amp
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" else "off"
    if amp == "bf16":
        if device.type != "cuda":
            # PyTorch 1.13's CPU autocast leaves LayerNorm in bf16 and fails
            raise SystemExit("--amp bf16 is for --device cuda; the CPU trains in fp32")
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return None


def init_weights_from(path):
    """(state_dict, config or None, step) of --init-from: a checkpoint .pt
    or a safetensors export (whose metadata gives the configuration)."""
    if path.endswith(".safetensors"):
        m, _ = load_safetensors_model(path)
        return m.state_dict(), m.cfg, None
    init = torch.load(path, map_location="cpu")
    return init["model"], None, init.get("step")


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.batch <= 0:
        args.batch = 32 if device.type == "cuda" else 1
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "last.pt")

    ck = init_sd = None
    init_step = None
    if args.resume or args.export_only:
        ck = torch.load(ckpt_path, map_location="cpu")
        cfg = CoordTokConfig(**ck["config"])
    else:
        fields = dict(TINY_MODEL if args.tiny else DEFAULT_MODEL)
        fields.update(json.loads(args.model))
        cfg = CoordTokConfig(**fields)
        if args.init_from:
            init_sd, init_cfg, init_step = init_weights_from(args.init_from)
            if init_cfg is not None:
                if args.tiny or json.loads(args.model):
                    raise SystemExit("--init-from FILE.safetensors brings its own "
                                     "configuration: drop --tiny / --model")
                cfg = init_cfg
    cfg.validate()
    if cfg.slice % (cfg.nx * cfg.ny):
        raise SystemExit("--model default_slice must be whole frames (multiple of NX*NY)")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = CoordTok(cfg).init_weights()
    step, history, seconds0 = 0, [], 0.0
    if ck is not None:
        seconds0 = ck.get("seconds", 0.0)
        model.load_state_dict(ck["model"])
        step, history = ck["step"], ck.get("history", [])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
    model.to(device)
    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.95))
    if ck is not None:
        opt.load_state_dict(ck["optimizer"])

    n_params = sum(p.numel() for p in model.parameters())
    info = (f"model {n_params / 1e6:.2f} M params; encode {cfg.encode_flops() / 1e9:.1f} "
            f"GFLOP, decode {cfg.decode_flops() / 1e9:.1f} GFLOP per window "
            f"(slice {cfg.slice}); device {device}, batch {args.batch}, seqs {args.seqs}")
    if not args.quiet:
        print(info, file=sys.stderr)

    if args.export_only:
        md = export_safetensors(model, args.export, args.export_dtype,
                                name=f"coordtok-default step {step}")
        print(f"exported {args.export} ({len(md)} metadata keys)", file=sys.stderr)
        return model, history

    sampler = make_sampler(args, cfg)
    # the data RNG must differ after resume (samplers are not checkpointed)
    rng = np.random.default_rng(args.seed * 1000003 + step)
    reseed_sampler(sampler, args.seed * 7919 + step)

    eval_frames = val_frames = None
    val_path = args.val_clip
    if val_path and not os.path.exists(val_path) and val_path == DEFAULT_VAL_CLIP:
        val_path = os.path.join(args.data, "val", "val_motion.npy")   # a data pack's
    if args.eval_every and args.eval_clip and os.path.exists(args.eval_clip):
        eval_frames = np.load(args.eval_clip)
    if args.eval_every and val_path and os.path.exists(val_path):
        val_frames = np.load(val_path)

    log = open(os.path.join(args.out, "train.log"), "a")
    log.write(f"# {' '.join(sys.argv)}\n# {info}\n# config {dataclasses.asdict(cfg)}\n"
              f"# torch {torch.__version__}"
              + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "")
              + f"; val clip {val_path if val_frames is not None else 'none'}\n")
    if init_sd is not None and step == 0:
        model.load_state_dict(init_sd)
        log.write(f"# weights from {args.init_from} (step {init_step})\n")
    elif step == 0 and not args.no_data_init and not args.bench:
        msg = data_init(model, sampler, log=log)
        if not args.quiet:
            print(msg, file=sys.stderr)
        save_ckpt(os.path.join(args.out, "init.pt"), model, opt, 0, args, history, 0.0)

    curve_path = os.path.join(args.out, "curve.tsv")
    new_curve = not os.path.exists(curve_path)
    curve = open(curve_path, "a")
    if new_curve:
        curve.write("step\tminutes\twindows\tloss\tloss_db\tlr\tval_psnr\teval_psnr"
                    "\tdata_wait\twindows_per_s\n")
    autocast = autocast_for(args, device)
    amp_on = autocast is not None
    if not amp_on:
        autocast = contextlib.nullcontext
    fwd = TrainForward(model)
    compiled = False
    if args.compile:
        if hasattr(torch, "compile"):
            fwd, compiled = torch.compile(fwd), True
        else:
            log.write(f"# --compile: torch {torch.__version__} has no torch.compile; eager\n")
    batches = window_batches(sampler, cfg, args, args.seed * 7919 + step + 17, device, log)
    eval_batch = 128 if device.type == "cuda" else 16

    def evaluate():
        txt, vals = "", {}
        if eval_frames is not None:
            vals["eval"] = psnr(reconstruct(model, eval_frames, batch=eval_batch), eval_frames)
            txt = f"eval PSNR {vals['eval']:.2f} dB"
        if val_frames is not None:
            vals["val"] = psnr(reconstruct(model, val_frames, batch=eval_batch), val_frames)
            txt += f" val PSNR {vals['val']:.2f} dB"
        return txt.strip(), vals

    prog = Progress(args.steps, step, log, args.quiet)
    t_start = time.time() - seconds0   # training time carries over a resume
    # the time budget: --minutes of training, cut short by --stop-at
    budget = args.minutes * 60 if args.minutes else 0.0
    if args.stop_at:
        left = args.stop_at - t_start
        budget = min(budget, left) if budget else left
        log.write(f"# time budget {budget / 60:.2f} min (--stop-at)\n")
    model.train()
    if args.bench:
        args.steps = step + 4
    since = dict(loss=0.0, n=0, wait=0.0, t=time.time(), windows=0)
    windows = step * args.batch
    lr = args.lr

    def curve_row(vals, el):
        loss_m = since["loss"] / max(since["n"], 1)
        curve.write(f"{step}\t{(time.time() - t_start) / 60:.3f}\t{windows}\t{loss_m:.5f}\t"
                    f"{10 * math.log10(4.0 / max(loss_m, 1e-12)):.2f}\t{lr:.3e}\t"
                    f"{vals.get('val', float('nan')):.3f}\t{vals.get('eval', float('nan')):.3f}\t"
                    f"{since['wait'] / max(el, 1e-9):.3f}\t{since['windows'] / max(el, 1e-9):.1f}\n")
        curve.flush()
        since.update(loss=0.0, n=0, wait=0.0, t=time.time(), windows=0)

    while step < args.steps:
        t_wait = time.time()
        u8, ns = next(batches)
        since["wait"] += time.time() - t_wait
        video, ns, coords, target = prepare_batch(model, u8, ns, args.seqs, rng, device)
        elapsed = time.time() - t_start
        lr = lr_at(step, args, args.steps, elapsed / budget if budget else 0.0)
        for g in opt.param_groups:
            g["lr"] = lr
        t0 = time.time()
        try:
            with autocast():
                planes, out = fwd(video, ns, coords)
        except Exception as e:
            # a compiler or autocast failure must not lose a one-shot GPU
            # run: drop --compile, then bf16, and say so in the log
            if compiled:
                log.write(f"# --compile failed ({type(e).__name__}: {e}); eager from here\n")
                fwd, compiled = TrainForward(model), False
            elif amp_on:
                log.write(f"# bf16 autocast failed ({type(e).__name__}: {e}); fp32 from here\n")
                autocast, amp_on = contextlib.nullcontext, False
            else:
                raise
            log.flush()
            with autocast():
                planes, out = fwd(video, ns, coords)
        loss = torch.mean((out.float() - target) ** 2)
        aux_w = args.aux * max(0.0, 1.0 - step / max(1, args.aux_steps))
        if aux_w > 0:
            total = loss + aux_w * aux_loss(tuple(z.float() for z in planes), video, cfg)
        else:
            total = loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        lv = float(loss)
        history.append((step, lv))
        since["loss"] += lv
        since["n"] += 1
        since["windows"] += args.batch
        windows += args.batch
        if args.bench:
            print(f"step {step}: {time.time() - t0:.2f}s loss {lv:.4f}", file=sys.stderr)
        extra = ""
        step += 1
        out_of_time = budget and (time.time() - t_start) > budget
        last = step == args.steps or out_of_time
        if args.eval_every and (step % args.eval_every == 0 or last):
            el = time.time() - since["t"]       # training only, not the evaluation
            extra, vals = evaluate()
            curve_row(vals, el)
        prog.update(step - 1, lv, lr, extra)
        if step % args.ckpt_every == 0 or last:
            save_ckpt(ckpt_path, model, opt, step, args, history, time.time() - t_start)
        if out_of_time:
            log.write(f"# stopped after {budget / 60:.2f} minutes at step {step}\n")
            break
    if prog.tty:
        sys.stderr.write("\n")
    mem = (f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"
           if device.type == "cuda" else "")
    log.write(f"# done: step {step}, {(time.time() - t_start) / 60:.1f} min, "
              f"{windows} windows{mem}\n")
    log.close()
    curve.close()
    if args.export and not args.bench:
        export_safetensors(model, args.export, args.export_dtype,
                           name=f"coordtok-default step {step}")
    return model, history


if __name__ == "__main__":
    main()
