"""One clip -> its token records, in this process, through the pipeline
`coordtok encode` builds (src/cli/cmd-encode.c, src/cli/video-input.c):

    filesrc ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB
        [,width=W,height=H] ! coordtokenc ! appsink

so a clip's records are bit for bit those of `coordtok encode` with the same
thread count (size "native": frames at their own size, cut into tiles), or
those of the same line with the model's width and height in the caps (size
"model": scaled by videoscale to one tile).  The elements share the weights
a coordtok.Model of the same file holds in this process (src/model-cache.c).
"""
import os
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import Gst, GstApp  # noqa: E402

import coordtok  # noqa: E402

SIZES = ("model", "native")
DTYPES = ("f32", "f16")


class ClipError(Exception):
    """The clip cannot be tokenized; the message says why (an error row)."""


def _plugin_file():
    """The plugin built beside this package in a build tree (BUILD/plugin),
    as the CLI finds it beside its executable."""
    pkg = os.path.dirname(os.path.abspath(coordtok.__file__))     # BUILD/src/python/coordtok
    return os.path.normpath(os.path.join(pkg, "..", "..", "..", "plugin", "libgstcoordtok.so"))


def init_gstreamer():
    """Gst.init, and the coordtok plugin found (GStreamer's path first)."""
    Gst.init(None)
    if Gst.ElementFactory.find("coordtokenc"):
        return
    f = _plugin_file()
    if os.path.exists(f):
        try:
            Gst.Plugin.load_file(f)
        except gi.repository.GLib.Error:
            pass
    if not Gst.ElementFactory.find("coordtokenc"):
        raise ClipError("the coordtok GStreamer plugin was not found: install it, or point "
                        "GST_PLUGIN_PATH at the build's plugin folder (BUILD/plugin)")


def _message_text(msg):
    err, debug = msg.parse_error()
    text = err.message
    # GStreamer's generic flow error says why only in the debug string
    if debug and "reason " in debug:
        text += " - " + debug[debug.index("reason "):]
    if err.matches(Gst.StreamError.quark(), Gst.StreamError.TYPE_NOT_FOUND):
        text += " - not a video file GStreamer knows"
    elif debug and "reason not-linked" in debug:
        text += " (no video stream GStreamer can decode)"
    return text


def encode_clip(path, model, size="model", dtype="f32", threads=0, device="auto",
                stall_timeout=120.0):
    """path -> list of coordtok.Tokens, one per window, in order.

    stall_timeout: seconds without a frame reaching the encoder (nor a
    record leaving it) after which the clip is given up: GStreamer 1.22's
    decodebin sometimes never reports a corrupt AVI's demuxer error when
    another pipeline ran before in the process (seen with fakesink alone).

    model: the coordtok.Model whose weights the encoder shares (its path,
    None for the default model).  Raises ClipError with the reason for an
    input that is not a video GStreamer decodes, or that has no frames."""
    if size not in SIZES:
        raise ValueError(f"size {size!r}: model or native")
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: f32 or f16")
    try:
        st = os.stat(path)
    except OSError as e:
        raise ClipError(f"cannot open {path}: {e.strerror}") from None
    if not os.path.isfile(path):
        raise ClipError(f"{path} is not a regular file")
    if st.st_size == 0:
        raise ClipError(f"{path} is an empty file, not a video")

    # Built by parse_launch so that decodebin's pad is linked in C (its
    # first pad videoconvert takes: the first video stream, as
    # video-input.c links it): no Python runs on GStreamer's threads.
    try:
        pipeline = Gst.parse_launch(
            "filesrc name=src ! decodebin ! videoconvert ! videoscale ! capsfilter name=caps "
            "! coordtokenc name=enc ! appsink name=sink sync=false")
    except gi.repository.GLib.Error as e:
        raise ClipError(f"cannot build the encoding pipeline: {e.message} (GStreamer elements "
                        "missing? gstreamer1.0-plugins-base)") from None
    src, caps = pipeline.get_by_name("src"), pipeline.get_by_name("caps")
    enc, sink = pipeline.get_by_name("enc"), pipeline.get_by_name("sink")
    src.set_property("location", path)
    want = "video/x-raw,format=RGB"
    if size == "model":
        want += f",width={model.width},height={model.height}"
    caps.set_property("caps", Gst.Caps.from_string(want))
    if model.path:
        enc.set_property("model", model.path)
    Gst.util_set_object_arg(enc, "device", device.split(":")[0])
    if ":" in device:
        enc.set_property("cuda-device-id", int(device.split(":")[1]))
    enc.set_property("threads", int(threads))
    Gst.util_set_object_arg(enc, "dtype", dtype)

    records, error = [], None
    bus = pipeline.get_bus()
    last_frame = [time.monotonic()]

    def frame_in(_pad, _info):
        last_frame[0] = time.monotonic()
        return Gst.PadProbeReturn.OK

    enc.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, frame_in)
    try:
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            raise ClipError(_message_text(msg) if msg else "the pipeline could not start")
        while True:
            sample = sink.try_pull_sample(50 * Gst.MSECOND)
            if sample is not None:
                records.append(sample)
                last_frame[0] = time.monotonic()
                continue
            msg = bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if msg is not None:
                if msg.type == Gst.MessageType.ERROR:
                    error = _message_text(msg)   # the first error is the one that says why
                break
            if sink.is_eos():
                break
            if time.monotonic() - last_frame[0] > stall_timeout:
                error = (f"no frame decoded for {stall_timeout:.0f} s: GStreamer stalled on "
                         f"this file (corrupt?); given up")
                break
        while error is None:                     # records still queued at EOS
            sample = sink.try_pull_sample(0)
            if sample is None:
                break
            records.append(sample)
    finally:
        pipeline.set_state(Gst.State.NULL)
    if error is not None:
        raise ClipError(error)
    tokens = []
    for i, sample in enumerate(records):
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            raise ClipError(f"window {i}: cannot map the record")
        try:
            tokens.append(coordtok.unpack(bytes(info.data)))
        finally:
            buf.unmap(info)
    if not tokens:
        raise ClipError(f"{path} has no frames")
    return tokens
