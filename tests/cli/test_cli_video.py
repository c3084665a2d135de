#!/usr/bin/python3
"""coordtok encode / decode / reconstruct: real clips, Y4M and raw input,
hostile Y4M headers, refusals (exit codes and messages).

Usage: test_cli_video.py COORDTOK [--gst-launch]

With --gst-launch (builds without sanitizers: an uninstrumented gst-launch-1.0
cannot load a sanitized plugin), the CLI's outputs are compared byte for
byte with gst-launch-1.0 pipelines of the same elements.
"""
import os
import re
import subprocess
import sys
import tempfile

coordtok = sys.argv[1]
gst_launch = "--gst-launch" in sys.argv[2:]
TREE = "/usr/share/doc/opencv-doc/examples/data/tree.avi"   # opencv-doc: 320x240, 68 frames
COCKATOO = "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"
W = H = 128                                                  # the default model's frame size
failures = 0


def report(ok, what, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what + (f"\n     {detail}" if detail and not ok else ""))
    if not ok:
        failures += 1


def run(args, rc, *needles, one_line=False):
    p = subprocess.run([coordtok] + args, capture_output=True, text=True)
    # (LeakSanitizer's list of the suppressions it used is not the CLI's output)
    err = re.sub(r"-{20,}\nSuppressions used:.*", "", p.stderr, flags=re.S)
    out = p.stdout + err
    ok = p.returncode == rc and all(n in out for n in needles)
    if one_line:
        ok = ok and len(err.strip().splitlines()) == 1
    report(ok, f"coordtok {' '.join(args)} -> {p.returncode}",
           f"wanted exit {rc}{' and one line' if one_line else ''} with {needles}; got: {out.strip()[:400]!r}")
    return p


def launch(pipeline):
    p = subprocess.run(["gst-launch-1.0", "-q"] + pipeline.split(), capture_output=True, text=True)
    if p.returncode != 0:
        report(False, f"gst-launch-1.0 {pipeline}", p.stderr.strip()[:400])
    return p.returncode == 0


def same_bytes(a, b, what):
    with open(a, "rb") as f, open(b, "rb") as g:
        x, y = f.read(), g.read()
    report(x == y and len(x) > 0, f"{what}: identical to gst-launch-1.0 ({len(x)} bytes)",
           f"{len(x)} vs {len(y)} bytes, first difference at "
           f"{next((i for i in range(min(len(x), len(y))) if x[i] != y[i]), min(len(x), len(y)))}")


def y4m(w, h, n, tags="F25:1 C420jpeg", frame=None):
    """A Y4M stream: a moving gradient (4:2:0 planes)."""
    out = [f"YUV4MPEG2 W{w} H{h} {tags}\n".encode()]
    cw, ch = (w + 1) // 2, (h + 1) // 2
    for t in range(n):
        ys = bytes(((x * 2 + y + 9 * t) & 255) for y in range(h) for x in range(w))
        out.append(b"FRAME\n" + ys + bytes([96 + t]) * (cw * ch) + bytes([160 - t]) * (cw * ch))
    return b"".join(out)


def rgb(w, h, n):
    return b"".join(bytes(((x * 3 + y * 5 + c * 40 + 7 * t) & 255) for y in range(h)
                          for x in range(w) for c in range(3)) for t in range(n))


def no_leftovers(d, what):
    left = [f for f in os.listdir(d) if f.endswith(".tmp") or f.startswith("out")]
    report(not left, f"{what}: no output or .tmp file left", f"left: {left}")


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


with tempfile.TemporaryDirectory() as tmp:
    j = lambda name: os.path.join(tmp, name)

    # -- encode a real clip: the bytes gst-launch writes with the same elements
    if not os.path.exists(TREE):
        report(False, f"{TREE} exists (Debian package opencv-doc, .ci/debian-packages.txt)")
    else:
        run(["encode", TREE, j("tree.ctok")], 0, "68 frames in 1 window,")
        with open(j("tree.ctok"), "rb") as f:
            report(f.read(4) == b"CTOK", "tree.ctok starts with a token record")
        if gst_launch and launch(f"filesrc location={TREE} ! decodebin ! videoconvert ! videoscale ! "
                                 f"video/x-raw,format=RGB ! coordtokenc ! filesink location={j('ref.ctok')}"):
            same_bytes(j("tree.ctok"), j("ref.ctok"), "encode tree.avi")

    # -- Y4M in, tokens, Y4M and raw out (8 frames: one short window)
    write(j("in.y4m"), y4m(W, H, 8))
    run(["encode", j("in.y4m"), j("short.ctok")], 0, "8 frames in 1 window,", "Y4M 128x128 420jpeg")
    run(["decode", j("short.ctok"), j("short.y4m")], 0, "8 frames of 128x128", "Y4M 4:2:0")
    with open(j("short.y4m"), "rb") as f:
        data = f.read()
    header = data.split(b"\n", 1)[0].split()
    frame = W * H * 3 // 2
    report(header[0] == b"YUV4MPEG2" and b"W128" in header and b"H128" in header and b"F25:1" in header
           and data.count(b"FRAME\n") == 8 and len(data) == len(b" ".join(header)) + 1 + 8 * (6 + frame),
           "decode to Y4M: header W128 H128 F25:1, 8 frames, sizes", repr(header))
    if gst_launch and launch(f"filesrc location={j('short.ctok')} ! coordtokparse ! coordtokdec ! videoconvert ! "
                             f"video/x-raw,format=I420 ! y4menc ! filesink location={j('ref.y4m')}"):
        same_bytes(j("short.y4m"), j("ref.y4m"), "decode to Y4M")
    run(["decode", j("short.ctok"), j("short.rgb")], 0, "8 frames of 128x128", "raw RGB24")
    report(os.path.getsize(j("short.rgb")) == 8 * W * H * 3, "decode to raw RGB24: 8 frames of 128x128x3 bytes")
    run(["decode", "--format", "y4m444", j("short.ctok"), j("short.any")], 0, "Y4M 4:4:4")
    with open(j("short.any"), "rb") as f:
        report(b"C444" in f.readline(), "decode --format y4m444 writes a C444 header")

    # -- a damaged record costs its window: a warning line, the run goes on (docs/elements.md)
    with open(j("short.ctok"), "rb") as f:
        rec = f.read()
    two = bytearray(rec + rec)
    two[len(rec) // 2] ^= 0xFF          # in the first record's payload
    write(j("damaged.ctok"), bytes(two))
    run(["decode", j("damaged.ctok"), j("damaged.rgb")], 0, "warning: Skipped a damaged token record",
        "8 frames of 128x128")
    write(j("damaged1.ctok"), bytes(two[:len(rec)]))
    run(["decode", j("damaged1.ctok"), j("damaged1.rgb")], 1, "Skipped a damaged token record",
        "no frame decoded")
    report(not os.path.exists(j("damaged1.rgb")) and not os.path.exists(j("damaged1.rgb.tmp")),
           "a decode without frames leaves no file")

    # -- raw RGB24 in: encode (sizes and rate given), reconstruct and its RGB PSNR
    write(j("in.rgb"), rgb(W, H, 8))
    run(["encode", "--width", "128", "--height", "128", "--framerate", "25", j("in.rgb"), j("raw.ctok")],
        0, "8 frames in 1 window,", "raw RGB24 128x128")
    if gst_launch and launch(f"filesrc location={j('in.rgb')} ! rawvideoparse format=rgb width=128 height=128 "
                             f"framerate=25/1 ! videoconvert ! videoscale ! video/x-raw,format=RGB ! "
                             f"coordtokenc ! filesink location={j('ref-raw.ctok')}"):
        same_bytes(j("raw.ctok"), j("ref-raw.ctok"), "encode raw RGB24")
    p = run(["reconstruct", "--width", "128", "--height", "128", j("in.rgb"), j("rec.rgb")], 0,
            "all 8 frames: RGB PSNR")
    m = re.search(r"all 8 frames: RGB PSNR ([\d.]+) dB", p.stdout)
    if m and os.path.exists(j("rec.rgb")):
        import math
        with open(j("in.rgb"), "rb") as f, open(j("rec.rgb"), "rb") as g:
            a, b = f.read(), g.read()
        sse = sum((x - y) * (x - y) for x, y in zip(a, b))
        psnr = 10 * math.log10(255 ** 2 / max(sse / len(a), 1e-10))
        report(len(a) == len(b) and abs(psnr - float(m.group(1))) < 0.006,
               f"reconstruct prints the RGB PSNR of what it wrote ({m.group(1)} dB)", f"recomputed {psnr:.3f} dB")
    run(["reconstruct", j("in.y4m"), j("rec2.rgb")], 0, "input: Y4M 128x128", "all 8 frames: RGB PSNR")

    # -- refusals: what the file is and what to run instead, no file left behind
    os.makedirs(j("r"))
    r = lambda name: os.path.join(tmp, "r", name)
    if os.path.exists(COCKATOO):
        run(["reconstruct", "--width", "128", "--height", "128", COCKATOO, r("out.rgb")], 1,
            "is an MP4/QuickTime video, not raw RGB24", one_line=True)
        os.symlink(COCKATOO, j("cockatoo.rgb"))
        run(["reconstruct", j("cockatoo.rgb"), r("out.rgb")], 1, "MP4", "not raw RGB24")
        run(["decode", COCKATOO, r("out.y4m")], 1, "not a CoordTok token file", "coordtok encode")
    write(j("small.y4m"), y4m(64, 64, 2))
    run(["reconstruct", j("small.y4m"), r("out.rgb")], 1, "64x64 frames", "the model takes 128x128")
    # the encoder takes any size (one padded tile here); reconstruct does not
    run(["encode", j("small.y4m"), j("small.ctok")], 0)
    write(j("small.rgb"), rgb(64, 64, 2))
    run(["reconstruct", "--width", "64", "--height", "64", j("small.rgb"), r("out.rgb")], 1,
        "64x64 frames", "128x128")
    run(["reconstruct", "--width", "100", "--height", "64", j("small.rgb"), r("out.rgb")], 1,
        "not a whole number of 100x64 RGB24 frames")
    run(["reconstruct", j("small.rgb"), r("out.rgb")], 2, "needs --width and --height")
    run(["reconstruct", "--width", "16384", "--height", "16384", j("small.rgb"), r("out.rgb")], 2,
        "MiB")
    run(["reconstruct", "--width", "-3", "--height", "64", j("small.rgb"), r("out.rgb")], 2, "1 to 16384")
    run(["encode", "--width", "64", "--height", "64", j("small.rgb"), r("out.ctok")], 2, "--framerate")
    run(["encode", "--width", "64", j("in.y4m"), r("out.ctok")], 2, "Y4M", "drop --width")
    run(["encode", "--framerate", "25", j("in.y4m"), r("out.ctok")], 2, "drop --framerate")
    run(["encode", j("short.ctok"), r("out.ctok")], 1, "is a CoordTok token file", "coordtok decode")
    run(["encode", "--model", j("no-such.safetensors"), j("in.y4m"), r("out.ctok")], 1,
        "Could not open CoordTok model", one_line=True)
    run(["encode", write(j("junk.bin"), bytes(range(256)) * 8), r("out.ctok")], 1,
        "not a video file GStreamer knows", one_line=True)
    run(["encode", write(j("empty.avi"), b""), r("out.ctok")], 1, "empty file")
    run(["encode", write(j("noframes.y4m"), b"YUV4MPEG2 W128 H128 F25:1\n"), r("out.ctok")], 1, "has no frames")
    import wave
    with wave.open(j("audio.wav"), "wb") as wav:   # a RIFF file without video
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(8000), wav.writeframes(bytes(1600))
    run(["encode", j("audio.wav"), r("out.ctok")], 1, "has no video stream", one_line=True)
    run(["decode", j("in.y4m"), r("out.y4m")], 1, "is a Y4M video, not a CoordTok token file")
    run(["decode", j("short.ctok"), r("out.mkv")], 2, "cannot tell the output format")
    run(["decode", "--format", "png", j("short.ctok"), r("out.y4m")], 2, "unknown --format")
    run(["encode", "--dtype", "f64", j("in.y4m"), r("out.ctok")], 2, "unknown dtype")
    run(["encode", "--device", "tpu", j("in.y4m"), r("out.ctok")], 2, "unknown device")

    # -- hostile Y4M: every header field bounded, every cut refused by name
    good = y4m(W, H, 2)
    hostile = [
        (b"YUV4MPEG2 W128 H128 F25:1", "truncated Y4M header"),
        (b"YUV4MPEG2 W99999 H128 F25:1\n", "bad Y4M width"),
        (b"YUV4MPEG2 W-5 H128 F25:1\n", "bad Y4M width"),
        (b"YUV4MPEG2 W128 H18446744073709551617 F25:1\n", "bad Y4M height"),
        (b"YUV4MPEG2 W16384 H16384 F25:1 C444\nFRAME\n", "MiB accepted"),
        (b"YUV4MPEG2 W128 H128 F25:1\nFRAME\n" + bytes(100), "frame 0 needs 24576 bytes"),
        (b"YUV4MPEG2 W128 H128 F25:1 Q5\n", "unknown Y4M header tag 'Q5'"),
        (b"YUV4MPEG2 W128 H128 F25:1 C420p10\n", "colour space '420p10' is not supported"),
        (b"YUV4MPEG2 W128 H128 F25:1 It\n", "interlaced"),
        (b"YUV4MPEG2 W128 F25:1\n", "no height"),
        (b"YUV4MPEG2 W128 H128 F0:1\n", "bad Y4M frame rate"),
        (b"YUV4MPEG2 W128 H128 F25:1 A1:0\n", "bad Y4M pixel aspect ratio"),
        (b"YUV4MPEG2 W128 H128 F25:1 X" + b"a" * 5000 + b"\n", "longer than 4096"),
        (good.replace(b"FRAME", b"FRAMX", 1), "expected a FRAME line"),
        (good[:-1000], "truncated Y4M file: frame 1"),
        (good + b"FRA", "cut off in its FRAME line"),
        (good.replace(b"FRAME\n", b"FRAME " + b"x" * 300 + b"\n", 1), "line too long"),
    ]
    for i, (data, needle) in enumerate(hostile):
        run(["encode", write(j(f"hostile{i}.y4m"), data), r("out.ctok")], 1, needle, one_line=True)
    no_leftovers(j("r"), "refused runs")

sys.exit(1 if failures else 0)
