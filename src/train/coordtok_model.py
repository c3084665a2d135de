"""CoordTok in PyTorch: the reference model definition of gst-coordtok.

Follows docs/coordtok-model.md (the spec) exactly, with the official parameter
names (spec section 3), so that ``model.load_state_dict(weights)`` works on
the golden ``weights.safetensors`` and on official checkpoints (after
stripping ``module.`` and dropping ``decoder.lpips_loss.*``; see
``clean_state_dict``).  Quirks of the official code that are kept on purpose:

* the cross-attention memory mask is ADDITIVE: padded video tokens get +1.0
  on their logits (a float ``key_padding_mask`` handed to
  nn.MultiheadAttention, which adds it), not -inf;
* padded frames are -3.0 in model space;
* coordinate arithmetic (query coordinates, plane sampling, pos-embed
  indices) is float32 and int() truncates;
* LayerNorm eps per group: encoder ViT 1e-5, encoder cross blocks 1e-6,
  decoder 1e-5;
* exact (erf) GELU; encoder ViT qkv without bias, decoder qkv with bias;
  cross blocks use nn.MultiheadAttention(bias=False) and an MLP named
  ``mlp.0`` / ``mlp.3`` (Sequential(Linear, GELU, Dropout, Linear)).

Layouts (as in coordtok.h): video (B, T, H, W, 3) in model space
(2*pixel/255 - 1); planes z_xy (B, Rxy, Rxy, C), z_yt (B, Rt, Rxy, C),
z_xt (B, Rt, Rxy, C), coordinates (ct, cx, cy) in [0, 1] with x = rows;
decoded patches (B, N, pt*p*p*3) ordered (dt, dx, dy, rgb).

Only torch (>= 1.13) and numpy are needed.
"""

import dataclasses
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_VALUE = -3.0  # model-space value of padded frames (official: -1 in [0,1])


# ---------------------------------------------------------------------------
# Configuration


@dataclasses.dataclass
class CoordTokConfig:
    """Hyper-parameters; field names match the ``coordtok.*`` metadata keys
    of docs/weights.md.  Defaults are CoordTok-L."""

    T: int = 128
    H: int = 128
    W: int = 128
    enc_pt: int = 8            # et: encoder patch frames
    enc_pxy: int = 16          # ep: encoder patch pixels per side
    enc_dim: int = 1024        # De
    enc_heads: int = 16        # He
    enc_vit_layers: int = 8    # Lv
    enc_cross_layers: int = 24 # Lx
    rxy: int = 16              # plane resolution in space
    rt: int = 32               # plane resolution in time
    channels: int = 8          # C
    qxy: int = 8               # plane patch (query token) size, space
    qt: int = 16               # plane patch (query token) size, time
    dec_dim: int = 1024        # Dd
    dec_heads: int = 16        # Hd
    dec_layers: int = 24       # Ld
    dec_pxy: int = 8           # p
    dec_pt: int = 1            # pt
    default_slice: int = 0     # queries per decoder sequence (0: 16 frames)
    enc_vit_eps: float = 1e-5
    enc_cross_eps: float = 1e-6
    dec_eps: float = 1e-5

    # derived sizes
    @property
    def n_video_tokens(self):  # Nv
        return (self.T // self.enc_pt) * (self.H // self.enc_pxy) * (self.W // self.enc_pxy)

    @property
    def query_grids(self):
        """(rows, cols) of the query-token grid of each plane xy, yt, xt."""
        g = (self.rxy // self.qxy, self.rxy // self.qxy)
        t = (self.rt // self.qt, self.rxy // self.qxy)
        return g, t, t

    @property
    def n_query_tokens(self):  # Nq
        return sum(a * b for a, b in self.query_grids)

    @property
    def nt(self):
        return self.T // self.dec_pt

    @property
    def nx(self):
        return self.H // self.dec_pxy

    @property
    def ny(self):
        return self.W // self.dec_pxy

    @property
    def patch_values(self):
        return 3 * self.dec_pt * self.dec_pxy * self.dec_pxy

    @property
    def slice(self):
        """Decoder sequence length used by default."""
        return self.default_slice or 16 * self.nx * self.ny

    @property
    def n_tokens(self):
        return self.rxy * self.rxy + 2 * self.rt * self.rxy

    def validate(self):
        c = self
        checks = [
            (c.T % c.enc_pt == 0, "T % enc_pt"),
            (c.H % c.enc_pxy == 0 and c.W % c.enc_pxy == 0, "H,W % enc_pxy"),
            (c.enc_dim % c.enc_heads == 0, "enc_dim % enc_heads"),
            (c.dec_dim % c.dec_heads == 0, "dec_dim % dec_heads"),
            (c.rxy % c.qxy == 0 and c.rt % c.qt == 0, "plane % query patch"),
            (c.T % c.dec_pt == 0, "T % dec_pt"),
            (c.H % c.dec_pxy == 0 and c.W % c.dec_pxy == 0, "H,W % dec_pxy"),
        ]
        for ok, what in checks:
            if not ok:
                raise ValueError(f"CoordTokConfig: {what} != 0 ({self})")
        return self

    # metadata (docs/weights.md)
    _INT_KEYS = ("T", "H", "W", "enc_pt", "enc_pxy", "enc_dim", "enc_heads",
                 "enc_vit_layers", "enc_cross_layers", "rxy", "rt", "channels",
                 "qxy", "qt", "dec_dim", "dec_heads", "dec_layers", "dec_pxy",
                 "dec_pt", "default_slice")
    _FLOAT_KEYS = ("enc_vit_eps", "enc_cross_eps", "dec_eps")

    def to_metadata(self, name: Optional[str] = None):
        md = {"coordtok.format": "coordtok-weights-1"}
        for k in self._INT_KEYS:
            v = getattr(self, k)
            if k == "default_slice":
                v = self.slice
            md["coordtok." + k] = str(int(v))
        for k in self._FLOAT_KEYS:
            md["coordtok." + k] = repr(float(getattr(self, k)))
        if name:
            md["coordtok.name"] = name
        return md

    @classmethod
    def from_metadata(cls, md):
        kw = {}
        for k in cls._INT_KEYS:
            if "coordtok." + k in md:
                kw[k] = int(md["coordtok." + k])
        for k in cls._FLOAT_KEYS:
            if "coordtok." + k in md:
                kw[k] = float(md["coordtok." + k])
        return cls(**kw)

    @classmethod
    def from_official(cls, m, layernorm_eps=None):
        """From the official constructor arguments (golden config.json 'model')."""
        T, H, W = m["video_shape"]
        eps = layernorm_eps or {}
        return cls(
            T=T, H=H, W=W,
            enc_pt=m["enc_patch_size_t"], enc_pxy=m["enc_patch_size_xy"],
            enc_dim=m["enc_embed_dim"], enc_heads=m["enc_num_heads"],
            enc_vit_layers=m["enc_patch_num_layers"],
            enc_cross_layers=m["enc_num_layers"],
            rxy=m["latent_resolution_xy"], rt=m["latent_resolution_t"],
            channels=m["latent_n_features"],
            qxy=m["latent_patch_size_xy"], qt=m["latent_patch_size_t"],
            dec_dim=m["dec_embed_dim"], dec_heads=m["dec_num_heads"],
            dec_layers=m["dec_num_layers"],
            dec_pxy=m["dec_patch_size_xy"], dec_pt=m["dec_patch_size_t"],
            enc_vit_eps=eps.get("encoder.encoder.layers.*", 1e-5),
            enc_cross_eps=eps.get("encoder.transformer.*", 1e-6),
            dec_eps=eps.get("decoder.transformer.layers.*", 1e-5),
        ).validate()

    @classmethod
    def from_state_dict(cls, sd, enc_heads=16, dec_heads=16, **kw):
        """Infers every size from tensor shapes (head counts cannot be)."""
        def shape(k):
            return tuple(sd[k].shape)
        De, _, et, ep, _ = shape("encoder.encoder.patch_embed.proj.weight")
        Nv = shape("encoder.encoder.pos_emb")[1]
        _, rxy, _, C = shape("weight_tokens_xy")
        rt = shape("weight_tokens_yt")[1]
        _, _, qxy, _ = shape("encoder.patch_embeds_xy.proj.weight")
        qt = shape("encoder.patch_embeds_yt.proj.weight")[2]
        _, NT, NX, NY, Dd = shape("decoder.transformer.pos_embed")
        pv = shape("decoder.projector.weight")[0]

        def count(prefix):
            n = 0
            while any(k.startswith(f"{prefix}.{n}.") for k in sd):
                n += 1
            return n
        Lv = count("encoder.encoder.layers")
        Lx = count("encoder.transformer.layers")
        Ld = count("decoder.transformer.layers")
        # NX = H/p, patch values = 3*pt*p*p, T = NT*pt; H/ep * W/ep * T/et = Nv
        # Square frames assumed (H == W, as in the official code).
        best = None
        for pt in range(1, 65):
            if pv % (3 * pt):
                continue
            p = math.isqrt(pv // (3 * pt))
            if p * p * 3 * pt != pv:
                continue
            T, H, W = NT * pt, NX * p, NY * p
            if T % et == 0 and H % ep == 0 and W % ep == 0 and \
                    (T // et) * (H // ep) * (W // ep) == Nv:
                best = (pt, p, T, H, W)
                break
        if best is None:
            raise ValueError("cannot infer T/H/W/p/pt from tensor shapes")
        pt, p, T, H, W = best
        return cls(T=T, H=H, W=W, enc_pt=et, enc_pxy=ep, enc_dim=De,
                   enc_heads=enc_heads, enc_vit_layers=Lv, enc_cross_layers=Lx,
                   rxy=rxy, rt=rt, channels=C, qxy=qxy, qt=qt, dec_dim=Dd,
                   dec_heads=dec_heads, dec_layers=Ld, dec_pxy=p, dec_pt=pt,
                   **kw).validate()

    # cost (2 FLOPs per multiply-add), same model as ct_config_*_flops
    def encode_flops(self):
        De, Nv, Nq = self.enc_dim, self.n_video_tokens, self.n_query_tokens
        patch = 2 * Nv * De * 3 * self.enc_pt * self.enc_pxy ** 2
        n = Nv + 1
        vit = self.enc_vit_layers * (n * 24 * De * De + 4 * n * n * De)
        cross = self.enc_cross_layers * (
            2 * Nv * 2 * De * De            # K, V of the memory
            + Nq * 2 * De * De * 2          # Q and out projections
            + 4 * Nq * Nv * De              # cross scores and mix
            + Nq * 2 * De * De * 4          # self-attn q,k,v,out
            + 4 * Nq * Nq * De              # self-attn scores and mix
            + Nq * 16 * De * De)            # MLP
        qtok = 2 * self.n_tokens * self.channels * De  # conv patch embeds
        proj = 2 * De * (self.n_tokens * self.channels)
        return patch + vit + cross + qtok + proj

    def decode_flops(self, n_queries=None, slice=None):
        n = n_queries if n_queries is not None else self.nt * self.nx * self.ny
        S = slice or self.slice
        Dd = self.dec_dim
        per_query = (2 * 3 * self.channels * Dd
                     + self.dec_layers * (24 * Dd * Dd + 4 * min(S, n) * Dd)
                     + 2 * Dd * self.patch_values)
        return n * per_query


# ---------------------------------------------------------------------------
# Building blocks


class Attention(nn.Module):
    """Multi-head self-attention with a packed qkv Linear (Q rows, K, V)."""

    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, hd)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, D)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf form
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x += Attn(LN1(x)); x += MLP(LN2(x))."""

    def __init__(self, dim, heads, qkv_bias, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class PatchEmbed3d(nn.Module):
    def __init__(self, dim, et, ep):
        super().__init__()
        self.proj = nn.Conv3d(3, dim, kernel_size=(et, ep, ep), stride=(et, ep, ep))

    def forward(self, video):
        # (B, T, H, W, 3) -> (B, 3, T, H, W) -> (B, De, T', H', W') -> (B, Nv, De)
        x = self.proj(video.permute(0, 4, 1, 2, 3))
        return x.flatten(2).transpose(1, 2)


class PatchEmbed2d(nn.Module):
    def __init__(self, in_ch, dim, k1, k2):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, dim, kernel_size=(k1, k2), stride=(k1, k2))

    def forward(self, plane):
        # (B, R1, R2, C) -> (B, C, R1, R2) -> (B, De, G1, G2) -> (B, G1*G2, De)
        x = self.proj(plane.permute(0, 3, 1, 2))
        return x.flatten(2).transpose(1, 2)


class VideoViT(nn.Module):
    """encoder.encoder: patch embedding, cls token, Lv blocks, final norm."""

    def __init__(self, cfg: CoordTokConfig):
        super().__init__()
        De = cfg.enc_dim
        self.patch_embed = PatchEmbed3d(De, cfg.enc_pt, cfg.enc_pxy)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, De))
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.n_video_tokens, De))
        self.layers = nn.ModuleList(
            [Block(De, cfg.enc_heads, False, cfg.enc_vit_eps) for _ in range(cfg.enc_vit_layers)])
        self.norm = nn.LayerNorm(De, eps=cfg.enc_vit_eps)

    def forward(self, video):
        x = self.patch_embed(video) + self.pos_emb
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        for blk in self.layers:
            x = blk(x)
        return self.norm(x)[:, 1:]  # drop the cls row


def _autocast_dtype(x):
    """The dtype autocast gives matrix products on x's device, or None."""
    if x.device.type == "cuda" and torch.is_autocast_enabled():
        return torch.get_autocast_gpu_dtype()
    if x.device.type == "cpu" and torch.is_autocast_cpu_enabled():
        return torch.get_autocast_cpu_dtype()
    return None


class CrossBlock(nn.Module):
    """q += CrossAttn(LN1(q), mem, mem); s = LN2(q); q += SelfAttn(s,s,s);
    q += MLP(LN3(q)).  The float key-padding mask is ADDED to the logits."""

    def __init__(self, dim, heads, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        # Sequence-first (batch_first=False) like the official code; this also
        # keeps torch 1.13 off its "fast path", which crashes without biases.
        self.cross_attn = nn.MultiheadAttention(dim, heads, bias=False)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.self_attn = nn.MultiheadAttention(dim, heads, bias=False)
        self.norm3 = nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0),
                                 nn.Linear(4 * dim, dim))

    def forward(self, q, memory, mask):
        """q (Nq, B, De), memory (Nv, B, De) sequence-first; mask (B, Nv)."""
        x = self.norm1(q)
        dt = _autocast_dtype(q)
        if dt is not None:
            # under autocast the query, the memory and the additive mask
            # meet in one dtype (PyTorch 2.0's fused attention refuses a
            # float32 mask beside bfloat16 queries)
            x, memory, mask = x.to(dt), memory.to(dt), mask.to(dt)
        q = q + self.cross_attn(x, memory, memory, key_padding_mask=mask,
                                need_weights=False)[0]
        s = self.norm2(q)
        q = q + self.self_attn(s, s, s, need_weights=False)[0]
        q = q + self.mlp(self.norm3(q))
        return q


class CrossTransformer(nn.Module):
    """encoder.transformer: Lx cross blocks and a final norm."""

    def __init__(self, cfg: CoordTokConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            [CrossBlock(cfg.enc_dim, cfg.enc_heads, cfg.enc_cross_eps)
             for _ in range(cfg.enc_cross_layers)])
        self.norm = nn.LayerNorm(cfg.enc_dim, eps=cfg.enc_cross_eps)

    def forward(self, q, memory, mask):
        """q (B, Nq, De), memory (B, Nv, De), mask (B, Nv) -> (B, Nq, De)."""
        q, memory = q.transpose(0, 1), memory.transpose(0, 1)
        for blk in self.layers:
            q = blk(q, memory, mask)
        return self.norm(q.transpose(0, 1))


class Encoder(nn.Module):
    def __init__(self, cfg: CoordTokConfig):
        super().__init__()
        self.cfg = cfg
        De, C = cfg.enc_dim, cfg.channels
        self.encoder = VideoViT(cfg)
        self.cross_pos_emb = nn.Parameter(torch.zeros(1, cfg.n_video_tokens, De))
        self.patch_embeds_xy = PatchEmbed2d(C, De, cfg.qxy, cfg.qxy)
        self.patch_embeds_yt = PatchEmbed2d(C, De, cfg.qt, cfg.qxy)
        self.patch_embeds_xt = PatchEmbed2d(C, De, cfg.qt, cfg.qxy)
        self.transformer = CrossTransformer(cfg)
        self.projectors_xy = nn.Linear(De, cfg.qxy * cfg.qxy * C)
        self.projectors_yt = nn.Linear(De, cfg.qt * cfg.qxy * C)
        self.projectors_xt = nn.Linear(De, cfg.qt * cfg.qxy * C)


class DecoderTransformer(nn.Module):
    """decoder.transformer: patch_embed (3C -> Dd), pos_embed, Ld blocks, norm."""

    def __init__(self, cfg: CoordTokConfig):
        super().__init__()
        Dd = cfg.dec_dim
        self.patch_embed = nn.Linear(3 * cfg.channels, Dd)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.nt, cfg.nx, cfg.ny, Dd))
        self.layers = nn.ModuleList(
            [Block(Dd, cfg.dec_heads, True, cfg.dec_eps) for _ in range(cfg.dec_layers)])
        self.norm = nn.LayerNorm(Dd, eps=cfg.dec_eps)


class Decoder(nn.Module):
    def __init__(self, cfg: CoordTokConfig):
        super().__init__()
        self.transformer = DecoderTransformer(cfg)
        self.projector = nn.Linear(cfg.dec_dim, cfg.patch_values)


# ---------------------------------------------------------------------------
# Plane sampling and coordinates


def _bilinear(plane, ca, cb):
    """Spec 5.1 on one plane (B, Ra, Rb, C) at coordinates ca, cb (B, N),
    float32 throughout.  Returns (B, N, C)."""
    B, Ra, Rb, C = plane.shape
    sa = ca * (Ra - 1)
    sb = cb * (Rb - 1)
    a0f = torch.floor(sa)
    b0f = torch.floor(sb)
    fa = (sa - a0f).unsqueeze(-1)
    fb = (sb - b0f).unsqueeze(-1)
    a0 = a0f.long().clamp(0, Ra - 1)
    b0 = b0f.long().clamp(0, Rb - 1)
    a1 = (a0 + 1).clamp(max=Ra - 1)
    b1 = (b0 + 1).clamp(max=Rb - 1)
    flat = plane.reshape(B, Ra * Rb, C)

    def g(a, b):
        idx = (a * Rb + b).unsqueeze(-1).expand(-1, -1, C)
        return torch.gather(flat, 1, idx)

    return (g(a0, b0) * (1 - fb) + g(a0, b1) * fb) * (1 - fa) + \
        (g(a1, b0) * (1 - fb) + g(a1, b1) * fb) * fa


def patch_coords(cfg: CoordTokConfig, n_frames=None, t0=0, nt=None):
    """All patch coordinates (N, 3) of frames [t0, t0+nt) of a window with
    n_frames real frames, in (it, ix, iy) order (it slowest), float32:
    c = index / (N_axis - 1)."""
    if n_frames is None:
        n_frames = cfg.T
    it_end = -(-n_frames // cfg.dec_pt)
    it0 = t0 // cfg.dec_pt
    it1 = it_end if nt is None else min(it_end, -(-(t0 + nt) // cfg.dec_pt))
    it = torch.arange(it0, it1, dtype=torch.float32) / float(max(cfg.nt - 1, 1))
    ix = torch.arange(cfg.nx, dtype=torch.float32) / float(max(cfg.nx - 1, 1))
    iy = torch.arange(cfg.ny, dtype=torch.float32) / float(max(cfg.ny - 1, 1))
    gt, gx, gy = torch.meshgrid(it, ix, iy, indexing="ij")
    return torch.stack([gt, gx, gy], dim=-1).reshape(-1, 3)


def sincos_3d(shape, dim):
    """(A, B, C, dim) sin-cos positional table over a 3-D grid: dim split
    into three even parts, one per axis (an initialisation only)."""
    parts = [dim // 3 // 2 * 2] * 3
    parts[0] += dim - sum(parts)
    out = []
    for n, d in zip(shape, parts):
        pos = torch.arange(n, dtype=torch.float32)
        freq = 1.0 / (100.0 ** (torch.arange(d // 2, dtype=torch.float32) / max(d // 2, 1)))
        ang = pos[:, None] * freq[None]
        out.append(torch.cat([ang.sin(), ang.cos()], dim=1))  # (n, d)
    A, B, C = shape
    return torch.cat([out[0][:, None, None].expand(A, B, C, -1),
                      out[1][None, :, None].expand(A, B, C, -1),
                      out[2][None, None, :].expand(A, B, C, -1)], dim=-1)


# ---------------------------------------------------------------------------
# The model


class CoordTok(nn.Module):
    """The whole tokenizer.  Parameter names are the official ones."""

    def __init__(self, cfg: CoordTokConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        C = cfg.channels
        self.weight_tokens_xy = nn.Parameter(torch.zeros(1, cfg.rxy, cfg.rxy, C))
        self.weight_tokens_yt = nn.Parameter(torch.zeros(1, cfg.rt, cfg.rxy, C))
        self.weight_tokens_xt = nn.Parameter(torch.zeros(1, cfg.rt, cfg.rxy, C))
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    # -- initialisation for training (not part of the spec) --
    def init_weights(self, std=0.02, local_cross=3.0, zero_residual=True):
        """Initialisation for training from scratch.

        Xavier-uniform weights (PyTorch's own default for
        nn.MultiheadAttention) and 3-D sin-cos positional tables.  The
        ViT-style "trunc_normal(0.02) everywhere" is too small at these
        widths: the cross-attention then averages the memory uniformly, the
        planes barely depend on the video (measured: 0.3 % of their spread)
        and training collapses to predicting the mean colour.  The output
        projector starts small (std 0.02) and the learned weight tokens
        small (std 0.1) so that the video-dependent part of the query
        tokens is not drowned at the start.

        ``local_cross`` > 0 also starts the cross-attention LOCAL: each query
        token attends mostly to the video tokens of the region its plane
        patch covers (see _init_local_cross), instead of having to discover
        that routing, which takes far more steps than a CPU budget has."""
        cfg = self.cfg
        for name, p in self.named_parameters():
            if p.dim() == 1:
                if name.endswith("weight"):   # LayerNorm gain
                    nn.init.ones_(p)
                else:
                    nn.init.zeros_(p)
            elif p.dim() >= 2 and "token" not in name and "pos_emb" not in name:
                nn.init.xavier_uniform_(p.view(p.shape[0], -1))
        nn.init.trunc_normal_(self.decoder.projector.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.trunc_normal_(self.encoder.encoder.cls_token, std=std)
        for t in (self.weight_tokens_xy, self.weight_tokens_yt, self.weight_tokens_xt):
            nn.init.normal_(t, std=0.1)
        grid = (cfg.T // cfg.enc_pt, cfg.H // cfg.enc_pxy, cfg.W // cfg.enc_pxy)
        with torch.no_grad():
            # one (t, x, y) sin-cos code per head, so every head sees all axes
            hd = cfg.enc_dim // cfg.enc_heads
            table = sincos_3d(grid, hd).repeat(1, 1, 1, cfg.enc_heads)
            self.encoder.encoder.pos_emb.copy_(table.reshape(1, -1, cfg.enc_dim))
            self.encoder.cross_pos_emb.copy_(table.reshape(1, -1, cfg.enc_dim))
            self.decoder.transformer.pos_embed.copy_(
                sincos_3d((cfg.nt, cfg.nx, cfg.ny), cfg.dec_dim).unsqueeze(0))
            if local_cross:
                self._init_local_cross(table, local_cross)
            if zero_residual:
                # residual branches start at zero (ViT attn/MLP outputs, the
                # cross blocks' self-attention and MLP, decoder blocks): the
                # network starts shallow, video -> planes -> pixels is a short
                # path, and the depth is grown by training
                for blk in list(self.encoder.encoder.layers) + list(self.decoder.transformer.layers):
                    blk.attn.proj.weight.zero_()
                    blk.mlp.fc2.weight.zero_()
                for blk in self.encoder.transformer.layers:
                    blk.self_attn.out_proj.weight.zero_()
                    blk.mlp[3].weight.zero_()
        return self

    def _plane_regions(self):
        """For each query token (xy, yt, xt order): the video-token index
        ranges (a, b, c) its plane patch covers (None = the whole axis)."""
        cfg = self.cfg
        na, nb, nc = cfg.T // cfg.enc_pt, cfg.H // cfg.enc_pxy, cfg.W // cfg.enc_pxy

        def rng(g, q, R, n):
            lo = (g * q * n) // R
            hi = max(lo + 1, -(-((g + 1) * q * n) // R))
            return (lo, hi)
        regions = []
        (g1, g2), (t1, t2), _ = cfg.query_grids
        for g in range(g1):          # xy: rows x -> b, cols y -> c
            for h in range(g2):
                regions.append((None, rng(g, cfg.qxy, cfg.rxy, nb), rng(h, cfg.qxy, cfg.rxy, nc)))
        for g in range(t1):          # yt: rows t -> a, cols y -> c
            for h in range(t2):
                regions.append((rng(g, cfg.qt, cfg.rt, na), None, rng(h, cfg.qxy, cfg.rxy, nc)))
        for g in range(t1):          # xt: rows t -> a, cols x -> b
            for h in range(t2):
                regions.append((rng(g, cfg.qt, cfg.rt, na), rng(h, cfg.qxy, cfg.rxy, nb), None))
        return regions

    def _init_local_cross(self, table, gain):
        """Query token i starts as the mean positional code of its region:
        the codes of one plane are written as bias + W x_i, with the weight
        token patch i holding x_i and the patch-embedding conv W spanning the
        codes' principal directions (exact when the codes' rank fits in the
        conv's C*P1*P2 inputs, as for sin-cos codes).  The cross-attention
        Q and K projections start as gain * identity, so that
        LN(query) . cross_pos_emb is largest inside the region."""
        cfg, e = self.cfg, self.encoder
        De = cfg.enc_dim
        codes = []
        for ra, rb, rc in self._plane_regions():
            sel = table[slice(*ra) if ra else slice(None),
                        slice(*rb) if rb else slice(None),
                        slice(*rc) if rc else slice(None)]
            codes.append(sel.reshape(-1, De).mean(0))
        codes = torch.stack(codes)
        (g1, g2), (t1, t2), _ = cfg.query_grids
        n_xy, n_t = g1 * g2, t1 * t2
        planes = [(self.weight_tokens_xy, e.patch_embeds_xy, codes[:n_xy], g2),
                  (self.weight_tokens_yt, e.patch_embeds_yt, codes[n_xy:n_xy + n_t], t2),
                  (self.weight_tokens_xt, e.patch_embeds_xt, codes[n_xy + n_t:], t2)]
        for wt, pe, cd, cols in planes:
            conv = pe.proj
            _, C, P1, P2 = conv.weight.shape
            n_in = C * P1 * P2
            bias = cd.mean(0)
            U, S, Vh = torch.linalg.svd(cd - bias, full_matrices=False)
            k = min(n_in, S.shape[0])
            scale = float(S[0]) / math.sqrt(cd.shape[0]) + 1e-8
            x = U[:, :k] * S[:k] / scale          # (n, k) inputs, O(1)
            w = conv.weight.view(De, n_in)
            w.mul_(0.05)
            w[:, :k] = (Vh[:k] * scale).t()
            conv.bias.copy_(bias)
            wt.zero_()
            for i in range(cd.shape[0]):
                g, h = divmod(i, cols)
                patch = torch.zeros(n_in)
                patch[:k] = x[i]
                wt[0, g * P1:(g + 1) * P1, h * P2:(h + 1) * P2, :] = \
                    patch.view(C, P1, P2).permute(1, 2, 0)
        eye = torch.eye(De)
        for blk in e.transformer.layers:
            blk.cross_attn.in_proj_weight[:De] = gain * eye
            blk.cross_attn.in_proj_weight[De:2 * De] = gain * eye

    # -- encoder --
    def memory_mask(self, n_frames, B, device=None):
        """(B, Nv) float: 1.0 for video tokens of frame group a >= n//et."""
        cfg = self.cfg
        nts = cfg.T // cfg.enc_pt
        per_t = (cfg.H // cfg.enc_pxy) * (cfg.W // cfg.enc_pxy)
        n = torch.as_tensor(n_frames, device=device).reshape(-1).expand(B)
        a = torch.arange(nts, device=n.device).repeat_interleave(per_t)  # (Nv,)
        return (a.unsqueeze(0) >= (n // cfg.enc_pt).unsqueeze(1)).float()

    def query_tokens(self):
        e = self.encoder
        return torch.cat([e.patch_embeds_xy(self.weight_tokens_xy),
                          e.patch_embeds_yt(self.weight_tokens_yt),
                          e.patch_embeds_xt(self.weight_tokens_xt)], dim=1)

    def encode(self, video, n_frames=None, trace=None):
        """video (B, T, H, W, 3) model space, frames >= n_frames padded with
        -3.0; n_frames: int or (B,) tensor (default T).  Returns the planes
        (z_xy, z_yt, z_xt).  ``trace`` (a dict) receives vit_out and
        memory_mask."""
        cfg = self.cfg
        B = video.shape[0]
        if n_frames is None:
            n_frames = cfg.T
        feats = self.encoder.encoder(video)
        mask = self.memory_mask(n_frames, B, video.device).to(video.dtype)
        if trace is not None:
            trace["vit_out"] = feats
            trace["memory_mask"] = mask
        memory = feats + self.encoder.cross_pos_emb
        q = self.query_tokens().expand(B, -1, -1)
        q = self.encoder.transformer(q, memory, mask)
        return self._unpatchify(q)

    def _unpatchify(self, q):
        cfg, e = self.cfg, self.encoder
        B = q.shape[0]
        grids = cfg.query_grids
        sizes = [(cfg.qxy, cfg.qxy), (cfg.qt, cfg.qxy), (cfg.qt, cfg.qxy)]
        projs = [e.projectors_xy, e.projectors_yt, e.projectors_xt]
        out, start = [], 0
        for (G1, G2), (P1, P2), proj in zip(grids, sizes, projs):
            tok = proj(q[:, start:start + G1 * G2])
            start += G1 * G2
            z = tok.reshape(B, G1, G2, P1, P2, cfg.channels).permute(0, 1, 3, 2, 4, 5)
            out.append(z.reshape(B, G1 * P1, G2 * P2, cfg.channels))
        return tuple(out)

    # -- decoder --
    @staticmethod
    def sample_planes(planes, coords):
        """Plane samples (B, N, 3C): xy at (cx, cy), yt at (ct, cy), xt at
        (ct, cx), concatenated.  coords (B, N, 3) = (ct, cx, cy) float32."""
        z_xy, z_yt, z_xt = planes
        ct, cx, cy = coords.unbind(-1)
        return torch.cat([_bilinear(z_xy, cx, cy), _bilinear(z_yt, ct, cy),
                          _bilinear(z_xt, ct, cx)], dim=-1)

    def embed_queries(self, planes, coords):
        """Decoder input tokens (B, N, Dd) = patch_embed(samples) + pos_embed."""
        cfg, dt = self.cfg, self.decoder.transformer
        f = self.sample_planes(planes, coords)
        it = (coords[..., 0] * float(cfg.nt - 1)).long()   # float32, truncation
        ix = (coords[..., 1] * float(cfg.nx - 1)).long()
        iy = (coords[..., 2] * float(cfg.ny - 1)).long()
        pos = dt.pos_embed[0][it, ix, iy]
        return dt.patch_embed(f) + pos

    def decode_tokens(self, h):
        """Runs the decoder transformer over sequences h (B, S, Dd)."""
        dt = self.decoder.transformer
        for blk in dt.layers:
            h = blk(h)
        return self.decoder.projector(dt.norm(h))

    def decode(self, planes, coords, seq=None, embedding_out=None):
        """coords (B, N, 3) -> (B, N, 3*pt*p*p).  With ``seq`` = None the N
        queries of each batch item form ONE sequence; otherwise they are cut
        into contiguous sequences of ``seq`` queries (N % seq == 0)."""
        h = self.embed_queries(planes, coords)
        if embedding_out is not None:
            embedding_out.append(self.sample_planes(planes, coords))
        B, N, D = h.shape
        if seq is None or seq >= N:
            return self.decode_tokens(h)
        if N % seq:
            raise ValueError(f"decode: N={N} not a multiple of seq={seq}")
        out = self.decode_tokens(h.reshape(B * N // seq, seq, D))
        return out.reshape(B, N, -1)

    def patches_to_video(self, patches, n_frames, t0=0):
        """(N, pt*p*p*3) patches in (it, ix, iy) order for whole frames ->
        (frames, H, W, 3); frames beyond n_frames are cut."""
        cfg = self.cfg
        pt, p = cfg.dec_pt, cfg.dec_pxy
        nit = patches.shape[0] // (cfg.nx * cfg.ny)
        v = patches.reshape(nit, cfg.nx, cfg.ny, pt, p, p, 3)
        v = v.permute(0, 3, 1, 4, 2, 5, 6).reshape(nit * pt, cfg.H, cfg.W, 3)
        return v[: n_frames - t0]

    @torch.no_grad()
    def rasterize(self, planes, n_frames=None, nslices=None, slice=None,
                  t0=0, nt=None, batch=16):
        """Reconstructs frames [t0, t0+nt) (default: all n_frames) of ONE
        window (planes with B == 1): every patch coordinate in (it, ix, iy)
        order, cut into contiguous sequences -- ``nslices`` equal pieces
        (torch.chunk semantics, as the official evaluation) or pieces of
        ``slice`` queries (default: cfg.slice).  Returns (frames, H, W, 3)
        in model space, not clamped."""
        cfg = self.cfg
        if n_frames is None:
            n_frames = cfg.T
        coords = patch_coords(cfg, n_frames, t0, nt).to(planes[0].device)
        N = coords.shape[0]
        if nslices is not None:
            size = -(-N // nslices)
        else:
            size = slice or cfg.slice
        pieces = list(torch.split(coords, size))
        outs = []
        # equal-length slices are decoded several at a time
        i = 0
        while i < len(pieces):
            j = i
            while j < len(pieces) and j - i < batch and pieces[j].shape[0] == pieces[i].shape[0]:
                j += 1
            c = torch.stack(pieces[i:j])
            pl = tuple(z.expand(c.shape[0], -1, -1, -1) for z in planes)
            outs.append(self.decode(pl, c).reshape(-1, cfg.patch_values))
            i = j
        patches = torch.cat(outs)
        end = n_frames if nt is None else min(n_frames, t0 + nt)
        v = self.patches_to_video(patches, end, t0 - t0 % cfg.dec_pt)
        return v[t0 % cfg.dec_pt:]

    def forward(self, video, coords, n_frames=None, seq=None):
        return self.decode(self.encode(video, n_frames), coords, seq)


# ---------------------------------------------------------------------------
# Loading and exporting


def clean_state_dict(sd):
    """Official checkpoint state_dict -> plain names: strips ``module.``,
    drops ``decoder.lpips_loss.*``."""
    out = {}
    for k, v in sd.items():
        if k.startswith("module."):
            k = k[len("module."):]
        if k.startswith("decoder.lpips_loss."):
            continue
        out[k] = v
    return out


def load_official_checkpoint(path, cfg=None, enc_heads=16, dec_heads=16):
    """Builds a CoordTok from an official trainer checkpoint (.pth: a dict
    with 'model', keys prefixed 'module.', maybe decoder.lpips_loss.*).
    Sizes are inferred from shapes unless ``cfg`` is given; head counts
    cannot be inferred (CoordTok-L: 16/16)."""
    ck = torch.load(path, map_location="cpu")
    sd = clean_state_dict(ck["model"] if "model" in ck else ck)
    if cfg is None:
        cfg = CoordTokConfig.from_state_dict(sd, enc_heads, dec_heads)
    model = CoordTok(cfg)
    model.load_state_dict(sd)
    return model.eval()


def load_safetensors_model(path, enc_heads=None, dec_heads=None, dtype=torch.float32):
    """Builds a CoordTok from a safetensors file (ours, with metadata, or a
    plain official export: sizes are then inferred from shapes)."""
    import numpy as np
    from safetensors_io import load
    arrays, md = load(path)
    sd = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()}
    sd = clean_state_dict(sd)
    if "coordtok.T" in md:
        cfg = CoordTokConfig.from_metadata(md)
        if enc_heads:
            cfg.enc_heads = enc_heads
        if dec_heads:
            cfg.dec_heads = dec_heads
    else:
        cfg = CoordTokConfig.from_state_dict(sd, enc_heads or 16, dec_heads or 16)
    model = CoordTok(cfg)
    model.load_state_dict(sd)
    return model.to(dtype).eval(), md


def export_safetensors(model: CoordTok, path, dtype="F16", name=None, extra_metadata=None):
    """Writes the weights with official names and the full configuration in
    ``__metadata__`` (docs/weights.md)."""
    from safetensors_io import save
    md = model.cfg.to_metadata(name)
    if extra_metadata:
        md.update({k: str(v) for k, v in extra_metadata.items()})
    sd = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    save(path, sd, md, dtype=dtype)
    return md


def to_model_space(frames_u8):
    """uint8 (..., 3) pixels -> float32 model space 2 * (p / 255) - 1."""
    if not torch.is_tensor(frames_u8):
        frames_u8 = torch.from_numpy(frames_u8)
    return 2.0 * (frames_u8.float() / 255.0) - 1.0


def pad_window(video, n_frames, T):
    """Pads (n, H, W, 3) model-space frames to T frames with -3.0."""
    n = video.shape[0]
    if n >= T:
        return video[:T]
    pad = torch.full((T - n,) + tuple(video.shape[1:]), PAD_VALUE, dtype=video.dtype)
    return torch.cat([video, pad])
