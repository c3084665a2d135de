#!/usr/bin/python3
"""Feed CoordTok tokens to a downstream model: appsink -> NumPy.

Runs   SOURCE ! coordtokenc ! appsink   (or reads a stored token file with
filesrc ! coordtokparse ! appsink) and turns every token buffer into a
TokenWindow: the three planes as NumPy arrays plus the header fields.  The
header is parsed with struct/numpy only (docs/token-format.md), so the same
code reads token files without GStreamer at all (read_token_file).

Examples:
    # encode a clip (videoscale picks the model's size by itself)
    appsink_tokens.py --model weights.safetensors clip.mp4
    # read tokens stored by  ... ! coordtokenc ! filesink location=t.ctok
    appsink_tokens.py --tokens t.ctok
    # no GStreamer needed for stored tokens
    appsink_tokens.py --tokens t.ctok --no-gst
"""
import argparse
import struct
import sys
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"CTOK"
VERSION = 1
FIXED_HEADER = 128
TIME_NONE = 0xFFFFFFFFFFFFFFFF
# offset 0..128, little-endian; see docs/token-format.md
_FIXED = struct.Struct("<4sHHII BBH 7I ii QQQ II 32s 8x")
assert _FIXED.size == FIXED_HEADER
_DTYPES = {0: ("f32", "<f4", 4), 1: ("f16", "<f2", 2), 2: ("bf16", "<u2", 2)}


class TokenError(ValueError):
    pass


@dataclass
class TokenWindow:
    T: int                # window length of the model
    n_frames: int         # real frames in this window
    height: int
    width: int
    fps: tuple            # (num, den); (0, 1) = variable
    pts: int | None       # ns, first frame
    duration: int | None  # ns, whole window
    model_id: str
    dtype: str            # as stored: f32 / f16 / bf16
    frame_pts: np.ndarray       # (n_frames,) uint64 ns (TIME_NONE: unknown)
    frame_duration: np.ndarray  # (n_frames,) uint64 ns
    z_xy: np.ndarray      # (rxy, rxy, C) float32
    z_yt: np.ndarray      # (rt, rxy, C) float32
    z_xt: np.ndarray      # (rt, rxy, C) float32

    def planes(self):
        return self.z_xy, self.z_yt, self.z_xt


def parse_record(data, check_crc=True):
    """One token record (bytes-like) -> (TokenWindow, record size)."""
    data = memoryview(data)
    if len(data) < FIXED_HEADER:
        raise TokenError(f"record too short: {len(data)} bytes, header needs {FIXED_HEADER}")
    (magic, version, fixed, header_size, flags, dtype, esize, _r, T, n_frames,
     height, width, rxy, rt, C, fps_n, fps_d, pts, duration, payload_size,
     payload_crc, header_crc, model_id) = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        raise TokenError(f"bad magic {bytes(magic)!r}")
    if version != VERSION:
        raise TokenError(f"token record version {version} not supported")
    if fixed != FIXED_HEADER or dtype not in _DTYPES or _DTYPES[dtype][2] != esize:
        raise TokenError("malformed header")
    if not 1 <= n_frames <= T or header_size != FIXED_HEADER + 16 * n_frames * (flags & 1):
        raise TokenError("inconsistent frame count / header size")
    n_elems = rxy * rxy * C + 2 * rt * rxy * C
    if payload_size != n_elems * esize:
        raise TokenError("payload size does not match the plane sizes")
    end = header_size + payload_size
    if len(data) < end:
        raise TokenError(f"record truncated: {len(data)} of {end} bytes")
    if check_crc:
        hdr = bytearray(data[:header_size])
        hdr[84:88] = b"\0\0\0\0"
        if zlib.crc32(hdr) != header_crc:
            raise TokenError("header CRC mismatch")
        if zlib.crc32(data[header_size:end]) != payload_crc:
            raise TokenError("payload CRC mismatch")
    table = np.frombuffer(data, dtype="<u8", count=2 * n_frames * (flags & 1),
                          offset=FIXED_HEADER).reshape(-1, 2)
    name, np_dtype, _ = _DTYPES[dtype]
    raw = np.frombuffer(data, dtype=np_dtype, count=n_elems, offset=header_size)
    if name == "bf16":
        z = (raw.astype(np.uint32) << 16).view(np.float32)
    else:
        z = raw.astype(np.float32)
    a, b = rxy * rxy * C, rt * rxy * C
    none = lambda v: None if v == TIME_NONE else v
    return TokenWindow(
        T=T, n_frames=n_frames, height=height, width=width, fps=(fps_n, fps_d),
        pts=none(pts), duration=none(duration),
        model_id=model_id.rstrip(b"\0").decode("ascii"), dtype=name,
        frame_pts=table[:, 0].copy(), frame_duration=table[:, 1].copy(),
        z_xy=z[:a].reshape(rxy, rxy, C), z_yt=z[a:a + b].reshape(rt, rxy, C),
        z_xt=z[a + b:].reshape(rt, rxy, C)), end


def read_token_file(path):
    """All windows of a token file (concatenated records), no GStreamer."""
    with open(path, "rb") as f:
        data = f.read()
    off, out = 0, []
    while off < len(data):
        w, size = parse_record(data[off:])
        out.append(w)
        off += size
    return out


def limit_frames(element, max_frames):
    """Lets exactly max_frames buffers into element's sink pad, then sends EOS
    in place of the next one and drops the rest.  (identity eos-after is not
    exact: frames already in flight still reach the next element.)"""
    from gi.repository import Gst
    seen = [0]

    def probe(pad, info):
        seen[0] += 1
        if seen[0] <= max_frames:
            return Gst.PadProbeReturn.OK
        if seen[0] == max_frames + 1:
            pad.send_event(Gst.Event.new_eos())
        return Gst.PadProbeReturn.DROP

    element.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)


def gst_windows(source=None, tokens=None, model=None, dtype="f32", max_frames=0):
    """Yields a TokenWindow per token buffer from a GStreamer pipeline."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)

    if tokens:
        launch = f'filesrc location="{tokens}" ! coordtokparse'
    else:
        enc = "coordtokenc name=enc" + (f' model="{model}"' if model else "") + f" dtype={dtype}"
        launch = (f'filesrc location="{source}" ! decodebin ! videoconvert ! videoscale'
                  f" ! {enc}")
    pipe = Gst.parse_launch(launch + " ! appsink name=sink sync=false max-buffers=4")
    sink = pipe.get_by_name("sink")
    if max_frames and not tokens:
        limit_frames(pipe.get_by_name("enc"), max_frames)
    pipe.set_state(Gst.State.PLAYING)
    bus = pipe.get_bus()
    try:
        while True:
            sample = sink.emit("pull-sample")   # blocks; None at EOS
            if sample is None:
                msg = bus.pop_filtered(Gst.MessageType.ERROR)
                if msg:
                    err, dbg = msg.parse_error()
                    raise RuntimeError(f"{msg.src.get_name()}: {err.message}")
                break
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            if not ok:
                raise RuntimeError("cannot map buffer")
            try:
                # copy out of the buffer before unmapping it
                window, _ = parse_record(bytes(info.data))
            finally:
                buf.unmap(info)
            yield window
    finally:
        pipe.set_state(Gst.State.NULL)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", help="a video file to encode")
    ap.add_argument("--tokens", help="a stored token file (coordtokenc ! filesink)")
    ap.add_argument("--model", help="weight file (default: the default model)")
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--max-frames", type=int, default=0, help="stop after N frames")
    ap.add_argument("--no-gst", action="store_true", help="parse --tokens without GStreamer")
    args = ap.parse_args(argv)
    if not args.source and not args.tokens:
        ap.error("give a video file or --tokens")

    if args.no_gst:
        windows = read_token_file(args.tokens)
    else:
        windows = gst_windows(args.source, args.tokens, args.model, args.dtype,
                              args.max_frames)
    total = 0
    for i, w in enumerate(windows):
        total += w.n_frames
        # here a downstream model would take w.z_xy, w.z_yt, w.z_xt
        print(f"window {i}: {w.n_frames}/{w.T} frames {w.width}x{w.height} "
              f"pts={w.pts} dur={w.duration} model={w.model_id} {w.dtype} "
              f"xy{w.z_xy.shape} yt{w.z_yt.shape} xt{w.z_xt.shape} "
              f"mean|z|={np.abs(np.concatenate([p.ravel() for p in w.planes()])).mean():.4f}")
    print(f"total frames: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
