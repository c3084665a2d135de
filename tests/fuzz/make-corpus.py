#!/usr/bin/python3
"""Writes the fuzz seed corpus (tests/fuzz/corpus/<harness>/) and the
reproducers of the hostile-input bugs of issue #9
(tests/fuzz/regressions/<harness>/).  Both are committed; run this again only
to change them:

    python3 tests/fuzz/make-corpus.py

Seeds are small on purpose (libFuzzer mutates faster): a micro CoordTok
(T=4, 8x8, 8 channels wide) whose weight file, checkpoint and token records
exercise every parser down to its last check.  Needs PyTorch (Debian's
python3-torch) for torch.save.
"""
import io
import os
import struct
import sys
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "src", "train"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from coordtok_model import CoordTok, CoordTokConfig, export_safetensors  # noqa: E402
from safetensors_io import save  # noqa: E402

MICRO = dict(T=4, H=8, W=8, enc_pt=2, enc_pxy=4, enc_dim=8, enc_heads=2,
             enc_vit_layers=1, enc_cross_layers=1, rxy=4, rt=4, channels=2,
             qxy=2, qt=2, dec_dim=8, dec_heads=2, dec_layers=1, dec_pxy=4,
             dec_pt=1)


def out(harness, kind, name, data):
    d = os.path.join(HERE, kind, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    print(f"{kind}/{harness}/{name}: {len(data)} bytes")


def st_bytes(header: str, data: bytes = b"") -> bytes:
    h = header.encode()
    return struct.pack("<Q", len(h)) + h + data


def micro_model():
    torch.manual_seed(0)
    m = CoordTok(CoordTokConfig(**MICRO))
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.5, 0.5)
    return m


def token_record(n_frames=3, dtype=1, pts=0, model_id=b"micro"):
    """A version-1 record (docs/token-format.md) of the micro model."""
    c = MICRO
    n = c["rxy"] * c["rxy"] * c["channels"] + 2 * c["rt"] * c["rxy"] * c["channels"]
    z = np.linspace(-2, 2, n).astype(np.float32)
    payload = {0: z.tobytes(), 1: z.astype(np.float16).tobytes(),
               2: (z.view(np.uint32) >> 16).astype(np.uint16).tobytes()}[dtype]
    esize = 4 if dtype == 0 else 2
    hs = 128 + 16 * n_frames
    h = bytearray(hs)
    struct.pack_into("<4sHHII BBH IIIIIII ii QQQ II", h, 0, b"CTOK", 1, 128, hs, 1,
                     dtype, esize, 0, c["T"], n_frames, c["H"], c["W"], c["rxy"],
                     c["rt"], c["channels"], 30, 1, pts, n_frames * 33333333,
                     len(payload), zlib.crc32(payload), 0)
    h[88:88 + len(model_id)] = model_id
    for i in range(n_frames):
        struct.pack_into("<QQ", h, 128 + 16 * i, pts + i * 33333333, 33333333)
    struct.pack_into("<I", h, 84, zlib.crc32(bytes(h)))
    return bytes(h) + payload


def main():
    m = micro_model()
    tmp = os.path.join(HERE, ".micro.safetensors")
    # --- safetensors + model loading ---
    for dt in ("F16", "BF16", "F32"):
        export_safetensors(m, tmp, dtype=dt, name="micro")
        out("safetensors", "corpus", f"micro-{dt.lower()}.safetensors", open(tmp, "rb").read())
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    save(tmp, sd, None, dtype="F16")     # no metadata: sizes inferred
    out("safetensors", "corpus", "micro-inferred.safetensors", open(tmp, "rb").read())
    os.unlink(tmp)
    out("safetensors", "corpus", "one-tensor.safetensors",
        st_bytes('{"__metadata__":{"k":"v"},"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}',
                 b"\1\0\0\0\2\0\0\0"))

    # --- checkpoint (zip + pickle) ---
    buf = io.BytesIO()
    torch.save({"epoch": 1, "model": m.state_dict()}, buf)
    ckpt = buf.getvalue()
    out("checkpoint", "corpus", "micro.pth", ckpt)
    with zipfile.ZipFile(io.BytesIO(ckpt)) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        out("checkpoint", "corpus", "micro-data.pkl", z.read(pkl))
    small = io.BytesIO()
    torch.save({"w": torch.arange(6.0).reshape(2, 3).t(), "h": torch.ones(3).half()}, small)
    out("checkpoint", "corpus", "views.pth", small.getvalue())

    # --- token records ---
    for dt in (0, 1, 2):
        out("tokens", "corpus", f"record-{['f32', 'f16', 'bf16'][dt]}.ctok", token_record(dtype=dt))
    out("tokens", "corpus", "record-1-frame.ctok", token_record(n_frames=1))

    # --- parser: first byte = chunk size ---
    two = token_record(pts=0) + token_record(pts=10**8)
    out("parse", "corpus", "two-records", b"\0" + two)
    out("parse", "corpus", "two-records-chunked", b"\x2b" + b"junk CTO" + two + b"CTOK tail")

    # --- reproducers of issue #9 ---
    out("safetensors", "regressions", "deep-nesting.safetensors",
        st_bytes('{"a":' + "[" * 75000))
    md = {f"coordtok.{k}": str(v) for k, v in CoordTokConfig().__dict__.items()
          if not k.startswith("_")}
    md.update({"coordtok.T": "2048", "coordtok.H": "2048", "coordtok.W": "2048",
               "coordtok.format": "coordtok-weights-1", "coordtok.default_slice": "4096"})
    import json
    out("safetensors", "regressions", "config-overflow.safetensors",
        st_bytes(json.dumps({"__metadata__": md, "encoder.encoder.pos_emb":
                             {"dtype": "F32", "shape": [1, 0, 1024], "data_offsets": [0, 0]}})))
    md2 = {f"coordtok.{k}": str(v) for k, v in CoordTokConfig().__dict__.items()
           if not k.startswith("_")}
    md2.update({"coordtok.enc_dim": "16384", "coordtok.dec_dim": "16384",
                "coordtok.format": "coordtok-weights-1", "coordtok.default_slice": "4096"})
    out("safetensors", "regressions", "arena-before-tensors.safetensors",
        st_bytes(json.dumps({"__metadata__": md2})))
    out("safetensors", "regressions", "empty-header.safetensors", st_bytes("{}"))

    stride0 = io.BytesIO()
    # a complete (micro) model plus one broadcast extra: the converter once
    # wrote its 2^40 elements (4 TiB)
    sd = dict(m.state_dict())
    sd["extra.broadcast"] = torch.zeros(1).expand(1 << 20, 1 << 20)
    torch.save({"model": sd}, stride0)
    out("checkpoint", "regressions", "stride0-broadcast.pth", stride0.getvalue())
    # a data.pkl of empty dicts appended to one list (scaled down: the
    # full 8 MB case is in tests/hostile)
    amp = b"\x80\x02]" + (b"(" + b"}" * 1000 + b"e") * 200 + b"."
    out("checkpoint", "regressions", "empty-dicts.pkl", amp)

    forged = bytearray(144)
    struct.pack_into("<4sHHII BBH IIIIIII ii QQQ II", forged, 0, b"CTOK", 1, 128, 144, 1,
                     0, 4, 0, 1, 1, 16, 16, 65536, 65536, 65536, 0, 1, 0, 0,
                     3 << 50, 0, 0)
    out("tokens", "regressions", "forged-3pb-header.ctok", bytes(forged))
    out("parse", "regressions", "forged-header-then-records", b"\0" + bytes(forged) + two)
    out("parse", "regressions", "forged-header-then-records-chunked",
        b"\x40" + bytes(forged) + two)


if __name__ == "__main__":
    main()
