#!/usr/bin/python3
"""Runs docs/examples/appsink_tokens.py: encoder -> appsink -> NumPy, and the
same tokens stored in a file read back with and without GStreamer.
Exit 77 (skipped) when PyGObject / GStreamer's introspection is absent."""
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "docs", "examples"))

try:
    import numpy as np
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as e:
    print(f"SKIP: PyGObject with Gst 1.0 and numpy are needed ({e}); "
          f"run with Debian's /usr/bin/python3 (python3-gi, gir1.2-gstreamer-1.0)")
    sys.exit(77)

import appsink_tokens as ex

model = os.environ["CT_TEST_TINY"]
clips = ["/usr/share/doc/opencv-doc/examples/data/vtest.avi",
         "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"]
clip = next((c for c in clips if os.path.exists(c)), None)
if clip is None:
    print("SKIP: no test clip installed (opencv-doc or python3-imageio)")
    sys.exit(77)

Gst.init(None)
if Gst.ElementFactory.find("coordtokenc") is None:
    print("FAIL: coordtokenc not found (GST_PLUGIN_PATH?)")
    sys.exit(1)

# 1. live: 40 frames -> windows of 16, 16, 8 (T = 16), as NumPy planes
for dtype in ("f32", "bf16"):
    # 64x32 frames: two tiles of the tiny model's 32x32
    wins = list(ex.gst_windows(clip, model=model, dtype=dtype, max_frames=40,
                               size=(64, 32)))
    assert [w.n_frames for w in wins] == [16, 16, 8], [w.n_frames for w in wins]
    for w in wins:
        assert w.xy.shape == (2, 8, 8, 4) and w.yt.shape == (2, 8, 8, 4), w.xy.shape
        assert (w.tiles_x, w.tiles_y) == (2, 1)
        assert w.xy.dtype == np.float32 and np.isfinite(w.xy).all()
        assert w.dtype == dtype and w.T == 16 and (w.width, w.height) == (64, 32)
        assert len(w.frame_pts) == w.n_frames
    if dtype == "f32":
        live = wins
print(f"live: {len(live)} windows, model {live[0].model_id}, "
      f"pts {[w.pts for w in live]}")

# 2. stored: encoder ! filesink, then coordtokparse ! appsink and plain Python
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "t.ctok")
    pipe = Gst.parse_launch(
        f'filesrc location="{clip}" ! decodebin ! videoconvert ! videoscale ! '
        f'video/x-raw,width=64,height=32 ! coordtokenc name=enc model="{model}" ! filesink location="{path}"')
    ex.limit_frames(pipe.get_by_name("enc"), 40)
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(
        300 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipe.set_state(Gst.State.NULL)
    assert msg and msg.type == Gst.MessageType.EOS, msg and msg.parse_error()
    parsed = list(ex.gst_windows(tokens=path))
    plain = list(ex.coordtok.read_tokens(path))
    # the same 40 frames as the live run: the stored tokens equal the live
    # ones, read with GStreamer (coordtokparse) and without
    assert [w.n_frames for w in parsed] == [w.n_frames for w in live]
    for a, b, c in zip(parsed, live, plain):
        assert np.array_equal(a.planes(), b.planes()) and np.array_equal(a.planes(), c.planes())
        assert a.pts == b.pts == c.pts and a.n_frames == b.n_frames == c.n_frames
    assert len(parsed) == len(plain) == 3
    # corruption is detected
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 1
    last_off = len(data) - (128 + 16 * 8 + 3 * 8 * 8 * 4 * 4)
    try:
        ex.coordtok.unpack(bytes(data[last_off:]))
        raise AssertionError("corruption not detected")
    except ex.coordtok.CoordTokError as e:
        print(f"corruption detected: {e}")
    # the example's command line
    out = subprocess.run([sys.executable, os.path.join(here, "..", "..", "docs", "examples",
                          "appsink_tokens.py"), "--tokens", path, "--no-gst"],
                         capture_output=True, text=True, check=True).stdout
    assert "total frames: 40" in out, out
print("OK")
