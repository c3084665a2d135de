#!/usr/bin/env python3
"""Trains a small CoordTok on CPU (PyTorch 1.13) and exports it for the engine.

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
"""

import argparse
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
                            patch_coords, to_model_space, PAD_VALUE)

# The default model: CoordTok-L's token layout, small widths and depths.
DEFAULT_MODEL = dict(
    T=128, H=128, W=128, enc_pt=8, enc_pxy=16, enc_dim=192, enc_heads=4,
    enc_vit_layers=2, enc_cross_layers=2, rxy=16, rt=32, channels=8,
    qxy=2, qt=4, dec_dim=128, dec_heads=4, dec_layers=4, dec_pxy=8, dec_pt=1,
    default_slice=256)

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
                    help="start from this checkpoint's weights (fine-tuning; new "
                         "optimizer and schedule, no least-squares init)")
    ap.add_argument("--batch", type=int, default=1, help="windows per step")
    ap.add_argument("--seqs", type=int, default=8,
                    help="decoder sequences (slices) per window per step")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--minutes", type=float, default=0,
                    help="stop (and export) after this much training time")
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
    ap.add_argument("--val-clip", default="/tmp/val_motion.npy",
                    help=".npy uint8 validation frames, evaluated with --eval-clip "
                         "(motion_data.py --val; picks between runs)")
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
    if not files:
        files = build_cache(args.data)
    base = WindowSampler(files, T=cfg.T, size=cfg.H, seed=args.seed)
    if args.motion <= 0:
        return base
    import motion_data
    stills = motion_data.load_stills(motion_data.still_paths(),
                                     cache=os.path.join(args.data, "stills"))
    # camera paths over real clips use the largest decodes (more room to move)
    big = [np.load(f) for f in files if f.endswith("_256.npy")]
    motion = motion_data.MotionSampler(stills, big, T=cfg.T, size=cfg.H, seed=args.seed + 1)
    return motion_data.MixedSampler(base, motion, args.motion, seed=args.seed + 2)


def make_batch(sampler, model, batch, seqs, rng):
    """Returns video (B,T,H,W,3), n_frames (B,), coords (B, seqs*S, 3),
    target (B, seqs*S, patch_values) for sequences of S = cfg.slice queries
    made of whole consecutive frames (S % (NX*NY) == 0) ."""
    cfg = model.cfg
    per_frame = cfg.nx * cfg.ny
    fps = max(1, cfg.slice // per_frame)        # decoded frames (it) per sequence
    vids, ns, coords, targets = [], [], [], []
    for _ in range(batch):
        fr, n = sampler.sample()
        v = to_model_space(fr)
        full = torch.full((cfg.T, cfg.H, cfg.W, 3), PAD_VALUE)
        full[:n] = v
        vids.append(full)
        ns.append(n)
        n_it = -(-n // cfg.dec_pt)
        allc = patch_coords(cfg, n).reshape(n_it, per_frame, 3)
        # patches as (it, ix, iy, pt*p*p*3) with (dt, dx, dy, rgb) order
        pt, p = cfg.dec_pt, cfg.dec_pxy
        vv = full[: n_it * pt].reshape(n_it, pt, cfg.nx, p, cfg.ny, p, 3)
        patches = vv.permute(0, 2, 4, 1, 3, 5, 6).reshape(n_it, per_frame, -1)
        # seqs random groups of fps consecutive frame indices (groups aligned
        # like inference slices: starting at multiples of fps)
        n_groups = max(1, n_it // fps)
        starts = rng.choice(n_groups, size=seqs, replace=n_groups < seqs) * fps
        idx = (starts[:, None] + np.arange(fps)[None]).reshape(-1)
        idx = np.minimum(idx, n_it - 1)
        coords.append(allc[idx].reshape(-1, 3))
        targets.append(patches[idx].reshape(-1, patches.shape[-1]))
    return (torch.stack(vids), torch.tensor(ns), torch.stack(coords), torch.stack(targets))


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
    Xa = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], 1)
    A = Xa.t() @ Xa + lam * torch.eye(Xa.shape[1], dtype=X.dtype)
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
    batches = [make_batch(sampler, model, 1, frames, rng) for _ in range(n_windows)]
    (g1, g2), (t1, t2), _ = cfg.query_grids
    splits = [g1 * g2, t1 * t2, t1 * t2]
    sizes = [(cfg.qxy, cfg.qxy), (cfg.qt, cfg.qxy), (cfg.qt, cfg.qxy)]
    grids = [(g1, g2), (t1, t2), (t1, t2)]
    projs = [enc.projectors_xy, enc.projectors_yt, enc.projectors_xt]
    Xs, Ys = [[], [], []], [[], [], []]
    for video, ns, _, _ in batches:
        feats = enc.encoder(video)
        memory = feats + enc.cross_pos_emb
        q = enc.transformer(model.query_tokens(), memory, model.memory_mask(ns, 1))[0]
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
        rows = torch.tensor([(i * C + c) for i in range(P1 * P2) for c in range(3)])
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
def reconstruct(model, frames_u8, slice=None):
    """Encodes and decodes uint8 frames (n, H, W, 3) window by window with
    PyTorch; returns uint8 frames."""
    cfg = model.cfg
    out = []
    was = model.training
    model.eval()
    for t0 in range(0, frames_u8.shape[0], cfg.T):
        fr = frames_u8[t0:t0 + cfg.T]
        n = fr.shape[0]
        v = torch.full((1, cfg.T, cfg.H, cfg.W, 3), PAD_VALUE)
        v[0, :n] = to_model_space(fr)
        planes = model.encode(v, n)
        rec = model.rasterize(planes, n, slice=slice)
        out.append(((rec + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).numpy())
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


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "last.pt")

    ck = None
    if args.resume or args.export_only:
        ck = torch.load(ckpt_path, map_location="cpu")
        cfg = CoordTokConfig(**ck["config"])
    else:
        fields = dict(TINY_MODEL if args.tiny else DEFAULT_MODEL)
        fields.update(json.loads(args.model))
        cfg = CoordTokConfig(**fields)
    cfg.validate()
    if cfg.slice % (cfg.nx * cfg.ny):
        raise SystemExit("--model default_slice must be whole frames (multiple of NX*NY)")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = CoordTok(cfg).init_weights()
    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.95))
    step, history, seconds0 = 0, [], 0.0
    if ck is not None:
        seconds0 = ck.get("seconds", 0.0)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, history = ck["step"], ck.get("history", [])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])

    n_params = sum(p.numel() for p in model.parameters())
    info = (f"model {n_params / 1e6:.2f} M params; encode {cfg.encode_flops() / 1e9:.1f} "
            f"GFLOP, decode {cfg.decode_flops() / 1e9:.1f} GFLOP per window "
            f"(slice {cfg.slice})")
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
    if hasattr(sampler, "reseed"):
        sampler.reseed(args.seed * 7919 + step)
    elif hasattr(sampler, "rng"):
        sampler.rng = np.random.default_rng(args.seed * 7919 + step)

    eval_frames = val_frames = None
    if args.eval_every and os.path.exists(args.eval_clip):
        eval_frames = np.load(args.eval_clip)
    if args.eval_every and args.val_clip and os.path.exists(args.val_clip):
        val_frames = np.load(args.val_clip)

    log = open(os.path.join(args.out, "train.log"), "a")
    log.write(f"# {' '.join(sys.argv)}\n# {info}\n# config {dataclasses.asdict(cfg)}\n")
    if args.init_from and step == 0:
        init = torch.load(args.init_from, map_location="cpu")
        model.load_state_dict(init["model"])
        log.write(f"# weights from {args.init_from} (step {init.get('step')})\n")
    elif step == 0 and not args.no_data_init and not args.bench:
        msg = data_init(model, sampler, log=log)
        if not args.quiet:
            print(msg, file=sys.stderr)
        save_ckpt(os.path.join(args.out, "init.pt"), model, opt, 0, args, history, 0.0)
    prog = Progress(args.steps, step, log, args.quiet)
    t_start = time.time() - seconds0   # training time carries over a resume
    model.train()
    if args.bench:
        args.steps = step + 4
    while step < args.steps:
        video, ns, coords, target = make_batch(sampler, model, args.batch, args.seqs, rng)
        elapsed = time.time() - t_start
        lr = lr_at(step, args, args.steps,
                   elapsed / (args.minutes * 60) if args.minutes else 0.0)
        for g in opt.param_groups:
            g["lr"] = lr
        t0 = time.time()
        planes = model.encode(video, ns)
        out = model.decode(planes, coords, seq=cfg.slice)
        loss = torch.mean((out - target) ** 2)
        aux_w = args.aux * max(0.0, 1.0 - step / max(1, args.aux_steps))
        total = loss + aux_w * aux_loss(planes, video, cfg) if aux_w > 0 else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        lv = float(loss)
        history.append((step, lv))
        if args.bench:
            print(f"step {step}: {time.time() - t0:.2f}s loss {lv:.4f}", file=sys.stderr)
        extra = ""
        step += 1
        if args.eval_every and step % args.eval_every == 0:
            if eval_frames is not None:
                rec = reconstruct(model, eval_frames)
                extra = f"eval PSNR {psnr(rec, eval_frames):.2f} dB"
            if val_frames is not None:
                rec = reconstruct(model, val_frames)
                extra += f" val PSNR {psnr(rec, val_frames):.2f} dB"
        prog.update(step - 1, lv, lr, extra)
        out_of_time = args.minutes and (time.time() - t_start) > args.minutes * 60
        if step % args.ckpt_every == 0 or step == args.steps or out_of_time:
            save_ckpt(ckpt_path, model, opt, step, args, history, time.time() - t_start)
        if out_of_time:
            log.write(f"# stopped after {args.minutes} minutes at step {step}\n")
            break
    if prog.tty:
        sys.stderr.write("\n")
    log.write(f"# done: step {step}, {(time.time() - t_start) / 60:.1f} min\n")
    log.close()
    if args.export and not args.bench:
        export_safetensors(model, args.export, args.export_dtype,
                           name=f"coordtok-default step {step}")
    return model, history


if __name__ == "__main__":
    main()
