#!/usr/bin/env python3
"""coordtok-dataset throughput (a benchmark, not a timed test): clips/s and
frames/s tokenizing the same clips

  loop     a plain single-process loop over the Python API: GStreamer
           decodes and scales each clip to the model's size (appsink), then
           coordtok.Model.encode runs window after window; its two parts
           timed apart (decode, engine)
  element  the same process, each clip through the dataset's own pipeline
           (coordtokenc in-process, coordtok.dataset.clip.encode_clip)
  ray-1    coordtok-dataset tokenize with a local Ray, 1 worker
  ray-2    the same, 2 workers

all at --threads per worker (default 1), plus the engine's encode rate per
core for the default model and CoordTok-L-sized random weights (`coordtok
bench --no-decode`).  Ray's overhead at one worker = ray-1 work / element - 1
(start-up apart: given separately).

  PYTHONPATH=build/src/python GST_PLUGIN_PATH=build/plugin COORDTOK_MODEL_DIR=src/models \\
      .venv/bin/python tests/bench/dataset_bench.py --coordtok build/src/cli/coordtok
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import coordtok
from coordtok.dataset.clip import Gst, encode_clip, init_gstreamer

DATA = "/usr/share/doc/opencv-doc/examples/data"
CLIPS = [f"{DATA}/tree.avi", f"{DATA}/Megamind.avi", f"{DATA}/vtest.avi",
         "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"]


def decode_scaled(path, w, h):
    """uint8 (n, h, w, 3): the clip decoded and scaled as --size model does."""
    p = Gst.parse_launch("filesrc name=src ! decodebin ! videoconvert ! videoscale ! "
                         f"video/x-raw,format=RGB,width={w},height={h} ! "
                         "appsink name=sink sync=false")
    p.get_by_name("src").set_property("location", path)
    sink = p.get_by_name("sink")
    p.set_state(Gst.State.PLAYING)
    frames = []
    while True:
        s = sink.try_pull_sample(10 * Gst.SECOND)
        if s is None:
            break
        buf = s.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        frames.append(np.frombuffer(bytes(info.data), np.uint8).reshape(h, w, 3))
        buf.unmap(info)
    p.set_state(Gst.State.NULL)
    return np.stack(frames)


def plain_loop(clips, model):
    t_dec = t_enc = 0.0
    frames = 0
    for c in clips:
        t0 = time.monotonic()
        v = decode_scaled(c, model.width, model.height)
        t1 = time.monotonic()
        for i in range(0, len(v), model.T):
            model.encode(v[i:i + model.T])
        t_enc += time.monotonic() - t1
        t_dec += t1 - t0
        frames += len(v)
    return t_dec, t_enc, frames


def element_loop(clips, model, threads):
    t0 = time.monotonic()
    frames = sum(t.n_frames for c in clips for t in encode_clip(c, model, "model", "f32",
                                                                  threads, "cpu"))
    return time.monotonic() - t0, frames


def ray_run(clips, workers, threads, tmp):
    out = os.path.join(tmp, f"out-{workers}")
    lst = os.path.join(tmp, "list.txt")
    with open(lst, "w") as f:
        f.write("\n".join(clips) + "\n")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "coordtok.dataset", "tokenize", "--list", lst,
                        "--out", out, "--workers", str(workers), "--threads", str(threads),
                        "--clips-per-shard", "1"], capture_output=True, text=True)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"tokenize failed: {r.stderr[-2000:]}")
    work = float(re.search(r"([0-9.]+) s of work", r.stdout).group(1))
    frames = int(re.search(r"([0-9]+) frames\)", r.stdout).group(1))
    import pyarrow.parquet as pq
    in_clips = sum(pq.read_table(os.path.join(out, "clips")).column("seconds").to_pylist())
    return wall, work, frames, in_clips


def engine_rate(cli, threads, extra):
    r = subprocess.run([cli, "bench", "--no-decode", "--threads", str(threads), "--runs", "3",
                        "--warmup", "1", "--json"] + extra, capture_output=True, text=True,
                       check=True)
    j = json.loads(r.stdout)
    return j


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--coordtok", default="build/src/cli/coordtok")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=4, help="each clip this many times (links)")
    a = ap.parse_args()
    init_gstreamer()
    tmp = tempfile.mkdtemp(prefix="coordtok-dataset-bench-")
    clips = []
    for r in range(a.repeat):       # distinct paths: distinct clips to the tool
        for c in CLIPS:
            link = os.path.join(tmp, f"{r}-{os.path.basename(c)}")
            os.symlink(c, link)
            clips.append(link)
    model = coordtok.Model(None, "cpu", a.threads)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), "?")
    print(f"{len(clips)} clips, threads per worker {a.threads}, {os.cpu_count()} cores: {cpu}")
    element_loop(clips[:1], model, a.threads)           # warm caches and the plugin
    rows = []
    d, e, f = plain_loop(clips, model)
    rows.append(("loop (decode + Model.encode)", d + e, f, f"decode {d:.1f} s, engine {e:.1f} s"))
    t, f2 = element_loop(clips, model, a.threads)
    rows.append(("element (in-process pipeline)", t, f2, ""))
    base = t
    for w in (1, 2):
        wall, work, f3, in_clips = ray_run(clips, w, a.threads, tmp)
        note = (f"Ray start-up {wall - work:.1f} s apart; work vs element "
                f"{100 * (work / base - 1):+.0f}%; the clips themselves {in_clips:.1f} s "
                f"in the workers ({100 * (in_clips / base - 1):+.0f}% vs element)")
        rows.append((f"ray, {w} worker(s)", work, f3, note))
    print(f"{'run':32s} {'s':>7s} {'clips/s':>8s} {'frames/s':>9s}  notes")
    for name, s, frames, note in rows:
        print(f"{name:32s} {s:7.1f} {len(clips) / s:8.2f} {frames / s:9.1f}  {note}")
    for name, extra in (("default model", []), ("CoordTok-L-sized", ["--random-l"])):
        j = engine_rate(a.coordtok, a.threads, extra)
        ms = j["encode_ms"]
        print(f"engine encode, {name} ({j['model']}), {a.threads} thread(s): {ms:.0f} ms a "
              f"128x128x128 window = {1000 / ms:.2f} windows/s = {128 * 1000 / ms:.0f} "
              f"frames/s ({j['encode_gflops']:.1f} GFLOP/s)")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
