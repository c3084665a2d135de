"""Reading a tokenized folder back, with pyarrow and NumPy only (no Ray).

    import coordtok.dataset as cds
    for batch in cds.iter_batches("out", batch_size=32, shuffle=True):
        batch["xy"]          # float (32, tiles, rxy, rxy, C) when the tiles agree
    tokens = cds.row_to_tokens(row, cds.read_metadata("out"))   # -> Model.decode

The files are plain Parquet: pandas (`pd.read_parquet("out/windows")`),
pyarrow (`pq.read_table("out/windows")`) and Hugging Face datasets
(`load_dataset("parquet", data_files="out/windows/*.parquet")`) read them as
they are; only committed shards should be read (shards() lists them)."""
import numpy as np
import pyarrow.parquet as pq

from . import schema, store
from .schema import PLANES, row_to_tokens  # noqa: F401 (re-exported)


def shards(out):
    """The committed windows files of a tokenized folder."""
    return store.windows_files(out)


def read_metadata(out_or_file):
    """The 'coordtok' schema metadata (shapes, model id, dtype) of a folder or file."""
    files = shards(out_or_file) if not str(out_or_file).endswith(".parquet") else [out_or_file]
    if not files:
        raise FileNotFoundError(f"no committed shard in {out_or_file}")
    return schema.read_metadata(pq.read_schema(files[0]))


def read_clips(out):
    """The clips table (status, error reason, windows, frames, ...)."""
    return store.read_clips(out)


def _to_numpy(table, meta):
    """A pyarrow table of windows -> dict of NumPy arrays; planes stacked to
    (n, tiles, ...) when every row has the same tile grid, else object arrays
    of per-row arrays."""
    out = {}
    tiles = None
    if "tiles_x" in table.column_names and "tiles_y" in table.column_names:
        t = (table.column("tiles_x").to_numpy() * table.column("tiles_y").to_numpy())
        tiles = int(t[0]) if len(t) and (t == t[0]).all() else None
    for name in table.column_names:
        col = table.column(name)
        if name in PLANES:
            flat = col.combine_chunks()
            values = flat.values.to_numpy(zero_copy_only=False)
            if tiles is not None:
                shape = schema.plane_shapes(meta, tiles)[name]
                out[name] = values.reshape((len(table),) + shape)
            else:
                offs = flat.offsets.to_numpy()
                rows = np.empty(len(table), dtype=object)
                for i in range(len(table)):
                    rows[i] = values[offs[i]:offs[i + 1]]
                out[name] = rows
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


def iter_batches(out, batch_size=64, columns=None, shuffle=False, seed=0, files=None):
    """Batches of windows as dicts of NumPy arrays.  shuffle: shard order
    and rows within each shard permuted (seeded); files: a subset of
    shards() (e.g. one worker's)."""
    files = list(shards(out) if files is None else files)
    if not files:
        return
    meta = read_metadata(files[0])
    rng = np.random.default_rng(seed)
    if shuffle:
        rng.shuffle(files)
    cols = None if columns is None else list(dict.fromkeys(
        list(columns) + (["tiles_x", "tiles_y"] if set(columns) & set(PLANES) else [])))
    pending = None
    for f in files:
        t = pq.read_table(f, columns=cols)
        if shuffle and t.num_rows:
            t = t.take(rng.permutation(t.num_rows))
        pending = t if pending is None else _concat(pending, t)
        while pending.num_rows >= batch_size:
            yield _to_numpy(pending.slice(0, batch_size), meta)
            pending = pending.slice(batch_size)
    if pending is not None and pending.num_rows:
        yield _to_numpy(pending, meta)


def _concat(a, b):
    import pyarrow as pa
    return pa.concat_tables([a, b.cast(a.schema)] if b.schema != a.schema else [a, b])
