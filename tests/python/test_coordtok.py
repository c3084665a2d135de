"""The coordtok Python package against the GStreamer elements (issue #11):
planes bit-identical to coordtokenc dtype=f32, pixels identical to
coordtokdec, records the parser and decoder accept, hostile files refused
with CoordTokError, the GIL released while the engine runs.

Run by meson (suite python): PYTHONPATH = build/python, the plugin from the
build, the tiny golden model (CT_TEST_TINY, head counts from the env).
"""
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import coordtok

TINY = os.environ["CT_TEST_TINY"]


@pytest.fixture(scope="module")
def model():
    return coordtok.Model(TINY, device="cpu")


def video(n, h, w, seed=0):
    """A moving pattern with some noise: n uint8 RGB frames."""
    rng = np.random.default_rng(seed)
    t, y, x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    base = np.stack([128 + 90 * np.sin((x + 2 * t) * 0.3), 128 + 90 * np.cos(y * 0.25 + t * 0.1),
                     (x + y + 3 * t) * 2.0 % 256], axis=-1)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def gst(pipeline):
    r = subprocess.run(["gst-launch-1.0", "-q"] + pipeline.split(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"gst-launch-1.0 {pipeline}\n{r.stdout}\n{r.stderr}"


def encode_with_element(frames, path, tmp_path):
    raw = tmp_path / "in.rgb"
    raw.write_bytes(frames.tobytes())
    h, w = frames.shape[1:3]
    gst(f"filesrc location={raw} blocksize={h * w * 3} ! rawvideoparse width={w} height={h} "
        f"format=rgb framerate=25/1 ! coordtokenc model={TINY} device=cpu dtype=f32 ! "
        f"filesink location={path}")


def decode_with_element(path, h, w, tmp_path, props=""):
    out = tmp_path / "out.rgb"
    gst(f"filesrc location={path} ! coordtokparse ! coordtokdec model={TINY} device=cpu "
        f"{props} ! video/x-raw,format=RGB ! filesink location={out}")
    data = np.frombuffer(out.read_bytes(), dtype=np.uint8)
    return data.reshape(-1, h, w, 3)


def test_encode_matches_coordtokenc(model, tmp_path):
    T = model.T
    frames = video(T + 5, model.height, model.width)       # a full and a short window
    encode_with_element(frames, tmp_path / "enc.ctok", tmp_path)
    records = list(coordtok.read_tokens(tmp_path / "enc.ctok"))
    assert [r.n_frames for r in records] == [T, 5]
    for i, (rec, chunk) in enumerate(zip(records, (frames[:T], frames[T:]))):
        mine = model.encode(chunk)
        assert rec.model_id == mine.model_id == model.model_id
        assert mine.xy.shape == (1, rec.rxy, rec.rxy, rec.channels) and mine.n_tiles == 1
        for a, b in ((mine.xy, rec.xy), (mine.yt, rec.yt), (mine.xt, rec.xt)):
            assert a.dtype == np.float32
            assert a.tobytes() == b.tobytes(), "planes differ from coordtokenc's"
        assert rec.frame_pts[0] == i * T * 40_000_000        # 25 fps


def test_decode_matches_coordtokdec_and_writer_is_accepted(model, tmp_path):
    frames = video(model.T + 7, model.height, model.width, seed=1)
    tokens = [model.encode(frames[:model.T]), model.encode(frames[model.T:])]
    path = tmp_path / "mine.ctok"
    assert coordtok.write_tokens(path, tokens) == 2
    theirs = decode_with_element(path, model.height, model.width, tmp_path)
    mine = np.concatenate([model.decode(t) for t in tokens])
    assert mine.shape == (model.T + 7, model.height, model.width, 3) and mine.dtype == np.uint8
    assert mine.tobytes() == theirs.tobytes(), "pixels differ from coordtokdec's"
    assert len(np.unique(mine)) > 16          # (the golden model's weights are random)


def test_frames_and_region_match_coordtokdec(model, tmp_path):
    tokens = model.encode(video(model.T, model.height, model.width, seed=2))
    path = tmp_path / "one.ctok"
    coordtok.write_tokens(path, [tokens])
    p = model._c["dec_pxy"]
    t0 = model._c["dec_pt"]
    region = (p, 0, model.width - p, 2 * p)
    theirs = decode_with_element(
        path, 2 * p, model.width - p, tmp_path,
        f"frame-offset={t0} frame-count=4 region-left={p} region-top=0 "
        f"region-width={model.width - p} region-height={2 * p}")
    mine = model.decode(tokens, frames=(t0, 4), region=region)
    assert mine.shape == (4, 2 * p, model.width - p, 3)
    assert mine.tobytes() == theirs.tobytes()


def test_record_round_trip(model, tmp_path):
    tokens = model.encode(video(6, model.height, model.width, seed=3))
    tokens.fps, tokens.pts, tokens.duration = (30, 1), 1000, 6 * 33_333_333
    tokens.frame_pts = np.arange(6, dtype=np.uint64) * 33_333_333 + 1000
    tokens.frame_duration = np.full(6, 33_333_333, dtype=np.uint64)
    path = tmp_path / "rt.ctok"
    coordtok.write_tokens(path, [tokens, tokens])
    back = list(coordtok.read_tokens(path))
    assert len(back) == 2
    for b in back:
        assert b.planes().tobytes() == tokens.planes().tobytes()
        assert (b.n_frames, b.T, b.fps, b.pts, b.duration, b.model_id) == \
            (6, model.T, (30, 1), 1000, 6 * 33_333_333, model.model_id)
        assert (b.frame_pts == tokens.frame_pts).all()
        assert (b.frame_duration == tokens.frame_duration).all()
    # reduced precision: the record says so, values round as the format says
    half = coordtok.unpack(coordtok.pack(tokens, "f16"))
    assert half.dtype == "f16"
    assert np.array_equal(half.planes(), tokens.planes().astype(np.float16).astype(np.float32))


def test_hostile_files_raise(model, tmp_path):
    tokens = model.encode(video(3, model.height, model.width))
    good = coordtok.pack(tokens)
    cases = {
        "truncated payload": good[:-10],
        "truncated header": good[:100],
        "flipped payload bit": good[:-5] + bytes([good[-5] ^ 1]) + good[-4:],
        "not a token file": b"RIFF" + bytes(300),
        "second record cut": good + good[:200],
    }
    for name, data in cases.items():
        path = tmp_path / "bad.ctok"
        path.write_bytes(data)
        with pytest.raises(coordtok.CoordTokError) as e:
            list(coordtok.read_tokens(path))
        assert "record" in str(e.value), f"{name}: {e.value}"
    with pytest.raises(coordtok.CoordTokError):
        coordtok.unpack(good[:-1])
    with pytest.raises(OSError):
        coordtok.Model(str(tmp_path / "missing.safetensors"))


def test_bad_arguments_raise(model):
    with pytest.raises(coordtok.CoordTokError, match="1..16|a window holds"):
        model.encode(np.zeros((model.T + 1, model.height, model.width, 3), np.uint8))
    with pytest.raises(coordtok.CoordTokError, match="uint8"):
        model.encode(np.zeros((2, model.height, model.width, 3), np.float32))
    with pytest.raises(coordtok.CoordTokError):
        model.encode(np.zeros((2, 20000, 4, 3), np.uint8))    # taller than any frame
    tokens = model.encode(np.zeros((2, model.height, model.width, 3), np.uint8))
    with pytest.raises(coordtok.CoordTokError):
        model.decode(tokens, frames=(5, 0))           # past the window
    with pytest.raises(coordtok.CoordTokError):
        model.decode(tokens, region=(1, 0, 8, 8))     # not patch-aligned
    with pytest.raises(ValueError, match="device"):
        coordtok.Model(TINY, device="tpu")
    for bad in ("cuda:", "cuda:x", "cuda:-1", "cuda:1 ", "cuda:5000"):
        with pytest.raises(ValueError, match="cuda:N"):
            coordtok.Model(TINY, device=bad)


def wrapping_records(tmp_path):
    """Records whose element count wraps 64 bits (issue 25), as the C test's
    search finds them: (path, (rxy, rt, C, tiles_x, tiles_y)) each."""
    out = subprocess.run([os.environ["CT_WRAP_WRITER"], "--write", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    recs = []
    for line in out.splitlines():
        path, *fields = line.split()
        recs.append((path, tuple(int(f) for f in fields)))
    assert len(recs) >= 8
    return recs


def test_wrapping_records_raise(model, tmp_path):
    """Each of these made read_tokens segfault and pack overflow its check."""
    for path, (rxy, rt, C, tx, ty) in wrapping_records(tmp_path):
        # the count really wraps: the per-field bounds alone let it through
        assert (rxy * C * (rxy + 2 * rt) * tx * ty) >> 64 and max(rxy, rt, C) <= 65536
        with pytest.raises(coordtok.CoordTokError, match="elements a token record may carry"):
            list(coordtok.read_tokens(path))
        data = open(path, "rb").read()
        with pytest.raises(coordtok.CoordTokError, match="elements a token record may carry"):
            coordtok.unpack(data)
        with pytest.raises(coordtok.CoordTokError, match="elements a token record may carry"):
            coordtok._coordtok.pack(np.zeros(16, np.float32), 1, 1, ty, tx, rxy, rt, C, "m",
                                    "f32", 25, 1, None, None, None, None, tx, ty, 1, 1, 1, 1)


def test_decode_region_overflow_raises(model):
    """top + height overflowed an int: an image of uninitialised memory."""
    tokens = model.encode(np.zeros((2, model.height, model.width, 3), np.uint8))
    for region in ((0, 2147483640, 0, 8), (2147483640, 0, 8, 0), (0, 8, 0, 2147483644)):
        with pytest.raises(coordtok.CoordTokError, match="must lie inside"):
            model.decode(tokens, region=region)


def test_writer_writes_only_what_readers_read(model):
    """pack refuses what every reader refuses (it wrote fps=(1,0))."""
    tokens = model.encode(np.zeros((2, model.height, model.width, 3), np.uint8))
    for fps in ((1, 0), (-1, 1)):
        tokens.fps = fps
        with pytest.raises(coordtok.CoordTokError, match="framerate"):
            coordtok.pack(tokens)
    tokens.fps = (25, 1)
    assert coordtok.unpack(coordtok.pack(tokens)).fps == (25, 1)


def test_device_index():
    # "cuda:N" asks the backend for device N; no machine has device 999, so
    # it fails (a device error is a RuntimeError), and device="cuda:0"
    # behaves as device="cuda"
    with pytest.raises(RuntimeError):
        coordtok.Model(TINY, device="cuda:999")
    try:
        coordtok.Model(TINY, device="cuda")
        has_cuda = True
    except RuntimeError:
        has_cuda = False
    if has_cuda:
        assert coordtok.Model(TINY, device="cuda:0").device.startswith("cuda:0")
    else:
        with pytest.raises(RuntimeError):
            coordtok.Model(TINY, device="cuda:0")


def test_engine_runs_without_the_gil(model):
    frames = video(model.T, model.height, model.width)
    tokens = model.encode(frames)
    span = {}

    def work():
        span["start"] = time.monotonic()
        for _ in range(5):
            model.decode(tokens)
        span["end"] = time.monotonic()

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.monotonic())
    worker.join()
    inside = [t for t in ticks if span["start"] < t < span["end"]]
    # with the GIL held through decode, this thread could not run meanwhile
    assert len(inside) > 100, f"{len(inside)} ticks during {span['end'] - span['start']:.3f} s"
