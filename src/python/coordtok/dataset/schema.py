"""The output's two tables (docs/dataset.md).

windows: one row per window of a clip.  The planes xy, yt, xt are flat lists
(float16 or float32) in C order of the shapes
    xy (tiles, rxy, rxy, C)     yt, xt (tiles, rt, rxy, C)
with tiles = tiles_x * tiles_y (1 with --size model); the schema metadata
key b"coordtok" holds them (JSON) with the model's id and sizes.
clips: one row per input clip with its status and the reason of an error.
"""
import json

import numpy as np
import pyarrow as pa

import coordtok

FORMAT = "coordtok-dataset/1"
PLANES = ("xy", "yt", "xt")

WINDOW_FIELDS = [
    pa.field("clip_id", pa.string()),
    pa.field("path", pa.string()),
    pa.field("window", pa.int32()),         # index in the clip, from 0
    pa.field("pts", pa.int64()),            # first frame's PTS, ns (null: none)
    pa.field("duration", pa.int64()),       # ns (null: unknown)
    pa.field("n_frames", pa.int32()),       # real frames (<= T: the last may be short)
    pa.field("width", pa.int32()),          # frames as encoded
    pa.field("height", pa.int32()),
    pa.field("tiles_x", pa.int32()),
    pa.field("tiles_y", pa.int32()),
    pa.field("tile_width", pa.int32()),
    pa.field("tile_height", pa.int32()),
    pa.field("par_n", pa.int32()),          # pixel aspect ratio
    pa.field("par_d", pa.int32()),
    pa.field("fps_n", pa.int32()),
    pa.field("fps_d", pa.int32()),
    pa.field("model_id", pa.string()),
]

CLIP_FIELDS = [
    pa.field("clip_id", pa.string()),
    pa.field("path", pa.string()),
    pa.field("status", pa.string()),        # ok | error
    pa.field("error", pa.string()),         # the reason (null when ok)
    pa.field("windows", pa.int32()),
    pa.field("frames", pa.int64()),
    pa.field("seconds", pa.float64()),      # of work on this clip
    pa.field("source_bytes", pa.int64()),   # null: unreadable
    pa.field("node", pa.string()),          # the host that did it
]


def plane_type(dtype):
    return pa.float16() if dtype == "f16" else pa.float32()


def metadata(model, dtype, size):
    """The schema metadata of the windows table: shapes and model."""
    rxy, rt, c = model._c["rxy"], model._c["rt"], model._c["channels"]
    return {b"coordtok": json.dumps({
        "format": FORMAT, "model_id": model.model_id, "T": model.T,
        "model_width": model.width, "model_height": model.height,
        "dtype": dtype, "size": size, "order": "C",
        "shapes": {"xy": ["tiles", rxy, rxy, c], "yt": ["tiles", rt, rxy, c],
                   "xt": ["tiles", rt, rxy, c]},
    }).encode()}


def windows_schema(model, dtype, size, carried):
    """carried: the Arrow fields of the list's extra columns."""
    t = plane_type(dtype)
    fields = WINDOW_FIELDS + list(carried) + [pa.field(p, pa.list_(t)) for p in PLANES]
    return pa.schema(fields, metadata=metadata(model, dtype, size))


def clips_schema(carried):
    return pa.schema(CLIP_FIELDS + list(carried))


def window_rows(cid, path, tokens, dtype):
    """Tokens of one clip -> dict of column lists (planes as NumPy vectors)."""
    npt = np.float16 if dtype == "f16" else np.float32
    rows = {f.name: [] for f in WINDOW_FIELDS}
    for p in PLANES:
        rows[p] = []
    for i, t in enumerate(tokens):
        vals = dict(clip_id=cid, path=path, window=i, pts=t.pts, duration=t.duration,
                    n_frames=t.n_frames, width=t.width, height=t.height, tiles_x=t.tiles_x,
                    tiles_y=t.tiles_y, tile_width=t.tile_width, tile_height=t.tile_height,
                    par_n=t.par[0], par_d=t.par[1], fps_n=t.fps[0], fps_d=t.fps[1],
                    model_id=t.model_id)
        for k, v in vals.items():
            rows[k].append(v)
        for p in PLANES:
            # f16 records were widened to float32 exactly: narrowing is exact too
            rows[p].append(getattr(t, p).astype(npt).ravel())
    return rows


def plane_shapes(meta, tiles):
    """Shapes of the three planes of a row with `tiles` tiles."""
    return {p: tuple(tiles if d == "tiles" else d for d in meta["shapes"][p]) for p in PLANES}


def read_metadata(schema):
    raw = (schema.metadata or {}).get(b"coordtok")
    if raw is None:
        raise coordtok.CoordTokError("not a coordtok dataset table (no 'coordtok' metadata)")
    return json.loads(raw)


def row_to_tokens(row, meta):
    """One windows row (a dict, as pyarrow's to_pylist or a NumPy batch row
    gives) and the table's metadata -> coordtok.Tokens for Model.decode."""
    tiles = int(row["tiles_x"]) * int(row["tiles_y"])
    shapes = plane_shapes(meta, tiles)
    planes = {p: np.asarray(row[p], dtype=np.float32).reshape(shapes[p]) for p in PLANES}
    return coordtok.Tokens(planes["xy"], planes["yt"], planes["xt"], n_frames=row["n_frames"],
                           model_id=row["model_id"], T=meta["T"], height=row["height"],
                           width=row["width"], tiles_x=row["tiles_x"], tiles_y=row["tiles_y"],
                           tile_width=row["tile_width"], tile_height=row["tile_height"],
                           fps=(row["fps_n"], row["fps_d"]), pts=row["pts"],
                           duration=row["duration"], par=(row["par_n"], row["par_d"]),
                           dtype=meta["dtype"])
