#!/usr/bin/env python3
"""The training data pack: the clips, photographs and validation clip that
training uses, in one file that travels with the working tree, so that a
machine without GStreamer (the lent GPU machine: PyTorch, numpy, Pillow or
OpenCV, no network) trains on the same data.

    /usr/bin/python3 src/train/data_pack.py --build src/train/data/train-pack.tar
    python3 src/train/data_pack.py --unpack src/train/data/train-pack.tar --out /tmp/ct-data
    python3 src/train/data_pack.py --val src/train/data/train-pack.tar --out /tmp/val_motion.npy

Building needs GStreamer (video_data.decode) and the Debian packages that
ship the clips; unpacking needs only numpy and one image decoder (Pillow,
OpenCV or imageio) for the photographs.

The pack is an uncompressed tar of:

* ``manifest.json``: every member, its kind, shape and the SHA-256 of the
  decoded bytes (checked on unpacking);
* ``clip/NAME_128.npy.xz``: each training clip at 128x128 RGB (at most
  ``--max-frames`` frames, from the start), stored as frame differences
  mod 256 then xz (lossless; still cameras compress 1.5x better that way);
* ``pattern/pattern-NAME_128.npy.xz``: the videotestsrc patterns;
* ``still/NAME.EXT``: the training photographs, the original files;
* ``val/val_motion.npy.xz``: the validation clip (motion_data.validation_clip).

cockatoo.mp4 (video_data.HELD_OUT, the test clip) is never put in a pack.

Unpacking writes the layout train.py reads with ``--data DIR``:
``DIR/NAME_128.npy``, ``DIR/pattern-*_128.npy``, ``DIR/stills/still-*.npy``
(decoded and resized as motion_data.load_stills does) and
``DIR/val/val_motion.npy`` (outside the ``DIR/*.npy`` that train.py trains
on).  What the CPU cache (video_data.build_cache) has and the pack has not:
the 192x192 and 256x256 decodes (zoomed-in crops) and the frames of a clip
past ``--max-frames`` -- they would not fit the 64 MiB that travels.
"""

import argparse
import hashlib
import io
import json
import lzma
import os
import sys
import tarfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

FORMAT = "coordtok-train-pack-1"
PACK_SIZE = 128


def _sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _encode_frames(a):
    """uint8 (n, h, w, 3) -> xz of .npy of frame differences mod 256."""
    d = a.copy()
    d[1:] = a[1:] - a[:-1]          # uint8 arithmetic wraps: exact inverse by cumsum
    buf = io.BytesIO()
    np.save(buf, d)
    return lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)


def _decode_frames(blob):
    d = np.load(io.BytesIO(lzma.decompress(blob)))
    return np.cumsum(d, axis=0, dtype=np.uint8)


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0                  # reproducible bytes
    tar.addfile(info, io.BytesIO(data))


def build(path, max_frames=256, log=print):
    """Decodes the training data with GStreamer and writes the pack."""
    import video_data
    import motion_data
    held = os.path.realpath(video_data.HELD_OUT)
    manifest = {"format": FORMAT, "size": PACK_SIZE, "max_frames": max_frames,
                "held_out_never_packed": os.path.basename(video_data.HELD_OUT),
                "members": []}
    blobs = []
    for clip in video_data.training_clips():
        if os.path.realpath(clip) == held:
            raise SystemExit(f"refusing to pack the test clip {clip}")
        base = os.path.splitext(os.path.basename(clip))[0]
        try:
            fr = video_data.decode(clip, PACK_SIZE, max_frames)
        except Exception as e:      # a clip GStreamer cannot decode here
            log(f"skip {clip}: {e}")
            continue
        name = f"clip/{base}_{PACK_SIZE}.npy.xz"
        blobs.append((name, _encode_frames(fr)))
        manifest["members"].append({"name": name, "kind": "clip", "source": clip,
                                    "shape": list(fr.shape), "sha256": _sha(fr)})
        log(f"{clip}: {fr.shape[0]} frames, {len(blobs[-1][1]) >> 10} KiB")
    for p in video_data.TEST_PATTERNS:
        fr = video_data.test_pattern(p, PACK_SIZE, 160)
        name = f"pattern/pattern-{p}_{PACK_SIZE}.npy.xz"
        blobs.append((name, _encode_frames(fr)))
        manifest["members"].append({"name": name, "kind": "pattern", "source": f"videotestsrc {p}",
                                    "shape": list(fr.shape), "sha256": _sha(fr)})
    for sp in motion_data.still_paths():
        with open(sp, "rb") as f:
            data = f.read()
        name = "still/" + os.path.basename(sp)
        blobs.append((name, data))
        manifest["members"].append({"name": name, "kind": "still", "source": sp,
                                    "sha256": hashlib.sha256(data).hexdigest()})
    val = motion_data.validation_clip()
    blobs.append(("val/val_motion.npy.xz", _encode_frames(val)))
    manifest["members"].append({"name": "val/val_motion.npy.xz", "kind": "val",
                                "source": "motion_data.validation_clip() over "
                                + ", ".join(os.path.basename(v) for v in motion_data.VAL_STILLS),
                                "shape": list(val.shape), "sha256": _sha(val)})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
        for name, data in blobs:
            _add(tar, name, data)
    os.replace(tmp, path)
    log(f"wrote {path}: {os.path.getsize(path) / 2**20:.2f} MiB, "
        f"{len(manifest['members'])} members")
    return manifest


def _decode_image(data):
    """Image file bytes -> uint8 (h, w, 3) RGB with whichever decoder exists."""
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except ImportError:
        pass
    try:
        import cv2
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(bgr[:, :, ::-1])
    except ImportError:
        pass
    import imageio.v2 as imageio
    return np.asarray(imageio.imread(io.BytesIO(data)))[..., :3]


def unpack(path, out, log=print):
    """Writes the --data layout of train.py into ``out``; checks every
    decoded array against the manifest.  Returns the manifest."""
    import motion_data
    with tarfile.open(path, "r") as tar:
        members = {m.name: m for m in tar.getmembers()}
        if "manifest.json" not in members:
            raise SystemExit(f"{path}: not a training data pack (no manifest.json)")
        manifest = json.loads(tar.extractfile("manifest.json").read())
        if manifest.get("format") != FORMAT:
            raise SystemExit(f"{path}: format {manifest.get('format')!r}, expected {FORMAT}")
        os.makedirs(os.path.join(out, "stills"), exist_ok=True)
        stills = []
        for m in manifest["members"]:
            if m["name"] not in members:
                raise SystemExit(f"{path}: manifest names {m['name']} but the pack lacks it")
            data = tar.extractfile(m["name"]).read()
            base = os.path.basename(m["name"])
            if m["kind"] == "still":
                if hashlib.sha256(data).hexdigest() != m["sha256"]:
                    raise SystemExit(f"{path}: {m['name']} is damaged (SHA-256 differs)")
                stills.append((os.path.splitext(base)[0], data))
                continue
            a = _decode_frames(data)
            if list(a.shape) != m["shape"] or _sha(a) != m["sha256"]:
                raise SystemExit(f"{path}: {m['name']} decodes to different frames "
                                 f"than were packed (damaged pack)")
            # the validation clip goes to its own folder: train.py trains on
            # every DIR/*.npy
            folder = os.path.join(out, "val") if m["kind"] == "val" else out
            os.makedirs(folder, exist_ok=True)
            np.save(os.path.join(folder, base[:-len(".xz")]), a)
    # photographs: decoded and resized exactly as motion_data.load_stills
    for name, data in stills:
        im = motion_data.prepare_still(_decode_image(data))
        if im is not None:
            np.save(os.path.join(out, "stills", f"still-{name}.npy"), im)
    n = sum(1 for m in manifest["members"] if m["kind"] != "still")
    log(f"unpacked {path} into {out}: {n} clips/patterns/val, {len(stills)} photographs")
    return manifest


def read_val_clip(path):
    """The validation clip of a pack, uint8 (n, 128, 128, 3), checked."""
    with tarfile.open(path, "r") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        m = next(m for m in manifest["members"] if m["kind"] == "val")
        a = _decode_frames(tar.extractfile(m["name"]).read())
    if _sha(a) != m["sha256"]:
        raise SystemExit(f"{path}: the validation clip is damaged")
    return a


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", metavar="PACK", help="decode the data (GStreamer) and write PACK")
    ap.add_argument("--max-frames", type=int, default=256,
                    help="frames kept per clip, from the start (size budget)")
    ap.add_argument("--unpack", metavar="PACK", help="unpack PACK into --out")
    ap.add_argument("--val", metavar="PACK", help="write the validation clip of PACK to --out (.npy)")
    ap.add_argument("--out", help="folder for --unpack (train.py --data), file for --val")
    a = ap.parse_args()
    if not a.build and not a.unpack and not a.val:
        ap.error("give --build PACK, --unpack PACK --out DIR or --val PACK --out FILE")
    if a.val:
        if not a.out:
            ap.error("--val needs --out FILE.npy")
        np.save(a.out, read_val_clip(a.val))
        print(f"wrote {a.out}")
    if a.build:
        build(a.build, a.max_frames)
    if a.unpack:
        if not a.out:
            ap.error("--unpack needs --out DIR")
        unpack(a.unpack, a.out)


if __name__ == "__main__":
    main()
