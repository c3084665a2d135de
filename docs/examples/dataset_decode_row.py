"""One row of a tokenized folder back to pixels: the row -> coordtok.Tokens
-> Model.decode (the model the tokens were made with) -> a PNG strip of
frames, or a Y4M video with --y4m.

    PYTHONPATH=build/src/python .venv/bin/python docs/examples/dataset_decode_row.py \
        OUT CLIP_PATH_OR_ID WINDOW out.png
"""
import sys

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

import coordtok
from coordtok.dataset import read_metadata, row_to_tokens, shards


def find_row(out, clip, window):
    for f in shards(out):
        t = pq.read_table(f)
        hit = t.filter(pc.and_(pc.or_(pc.equal(t["path"], clip), pc.equal(t["clip_id"], clip)),
                               pc.equal(t["window"], window)))
        if hit.num_rows:
            return hit.to_pylist()[0]
    raise SystemExit(f"no window {window} of {clip} in {out}")


def main(out, clip, window, dest):
    meta = read_metadata(out)
    row = find_row(out, clip, int(window))
    model = coordtok.Model()               # or Model(path) of the weights used (--model)
    if model.model_id != meta["model_id"]:
        raise SystemExit(f"tokens of model {meta['model_id']}, the default is {model.model_id}: "
                         "pass its weights to coordtok.Model")
    frames = model.decode(row_to_tokens(row, meta))      # uint8 (n, H, W, 3)
    if dest.endswith(".y4m"):
        with open(dest, "wb") as f:
            n, h, w, _ = frames.shape
            f.write(f"YUV4MPEG2 W{w} H{h} F{row['fps_n'] or 25}:{row['fps_d'] or 1} C444\n".encode())
            for fr in frames:               # RGB -> BT.601 full-range YUV 4:4:4
                x = fr.astype(np.float32)
                y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
                u = 128 + (x[..., 2] - y) * 0.564
                v = 128 + (x[..., 0] - y) * 0.713
                f.write(b"FRAME\n")
                for p in (y, u, v):
                    f.write(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes())
    else:
        from PIL import Image
        step = max(1, len(frames) // 8)
        Image.fromarray(np.concatenate(list(frames[::step][:8]), axis=1)).save(dest)
    print(f"{dest}: {len(frames)} frames of window {window} of {row['path']}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
