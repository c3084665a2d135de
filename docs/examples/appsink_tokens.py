#!/usr/bin/python3
"""Feed CoordTok tokens to a downstream model: appsink -> NumPy.

Runs   SOURCE ! coordtokenc ! appsink   (or reads a stored token file with
filesrc ! coordtokparse ! appsink) and turns every token buffer into a
coordtok.Tokens: the planes as NumPy arrays (xy, yt, xt, each with a
leading tile axis) plus the header fields.  The coordtok Python package
(built with the plugin; `meson devenv` or PYTHONPATH=build/python when not
installed) parses and checks the records, so stored token files need no
GStreamer at all (coordtok.read_tokens).

Examples:
    # encode a clip at its own size (frames larger than the model's are
    # cut into tiles), or scaled first
    appsink_tokens.py --model weights.safetensors clip.mp4
    appsink_tokens.py --size 256x128 clip.mp4
    # read tokens stored by  ... ! coordtokenc ! filesink location=t.ctok
    appsink_tokens.py --tokens t.ctok
    # no GStreamer needed for stored tokens
    appsink_tokens.py --tokens t.ctok --no-gst
"""
import argparse
import sys

import numpy as np

import coordtok


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


def gst_windows(source=None, tokens=None, model=None, dtype="f32", max_frames=0,
                size=None):
    """Yields a coordtok.Tokens per token buffer from a GStreamer pipeline."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)

    if tokens:
        launch = f'filesrc location="{tokens}" ! coordtokparse'
    else:
        enc = "coordtokenc name=enc" + (f' model="{model}"' if model else "") + f" dtype={dtype}"
        scale = f" ! video/x-raw,width={size[0]},height={size[1]}" if size else ""
        launch = (f'filesrc location="{source}" ! decodebin ! videoconvert ! videoscale'
                  f"{scale} ! {enc}")
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
                # copied out of the buffer (and checked) before unmapping it
                window = coordtok.unpack(bytes(info.data))
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
    ap.add_argument("--size", help="scale frames to WxH first (default: their own size)")
    args = ap.parse_args(argv)
    if not args.source and not args.tokens:
        ap.error("give a video file or --tokens")

    if args.no_gst:
        windows = coordtok.read_tokens(args.tokens)
    else:
        size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
        windows = gst_windows(args.source, args.tokens, args.model, args.dtype,
                              args.max_frames, size)
    total = 0
    for i, w in enumerate(windows):
        total += w.n_frames
        # here a downstream model would take w.xy, w.yt, w.xt
        print(f"window {i}: {w.n_frames}/{w.T} frames {w.width}x{w.height} "
              f"pts={w.pts} dur={w.duration} model={w.model_id} {w.dtype} "
              f"xy{w.xy.shape} yt{w.yt.shape} xt{w.xt.shape} "
              f"mean|z|={np.abs(w.planes()).mean():.4f}")
    print(f"total frames: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
