"""What to tokenize: video files, folders (recursive) and lists (a text file
with one path a line; CSV or Parquet with a path column whose other columns
are carried into the output) -> one Arrow table, a row per clip:
clip_id, path, then the carried columns."""
import hashlib
import os

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# Files a folder contributes; a file named on its own is always taken.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".ogv", ".ogg", ".mpg",
                  ".mpeg", ".ts", ".m2ts", ".flv", ".wmv", ".3gp", ".mxf", ".dv"}


class InputError(Exception):
    """An input that cannot be listed (missing folder, bad list file)."""


def clip_id(path):
    """Stable id of a clip: its absolute path's SHA-1, 16 hex digits (the
    same on every node that mounts the collection at the same path)."""
    return hashlib.sha1(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _folder(path):
    found = []
    def unreadable(e):
        raise InputError(f"cannot list {e.filename}: {e.strerror}")

    for root, dirs, files in os.walk(path, onerror=unreadable):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files)
                  if os.path.splitext(f)[1].lower() in VIDEO_SUFFIXES]
    return found


def _list_table(path, path_column):
    """A list file -> table with a 'path' column (relative paths are taken
    relative to the list's folder) and its other columns."""
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".parquet":
            t = pq.read_table(path)
        elif ext == ".csv":
            t = pacsv.read_csv(path)
        else:
            with open(path, encoding="utf-8") as f:
                lines = [ln.strip() for ln in f]
            t = pa.table({path_column: [ln for ln in lines if ln and not ln.startswith("#")]})
    except (OSError, UnicodeDecodeError, pa.ArrowInvalid) as e:
        raise InputError(f"cannot read the list {path}: {e}") from None
    if path_column not in t.column_names:
        raise InputError(f"the list {path} has no '{path_column}' column "
                         f"(its columns: {', '.join(t.column_names)}); see --path-column")
    base = os.path.dirname(os.path.abspath(path))
    paths = [p if p is None or os.path.isabs(p) else os.path.join(base, p)
             for p in t.column(path_column).cast(pa.string()).to_pylist()]
    if any(p is None or p == "" for p in paths):
        raise InputError(f"the list {path} has an empty '{path_column}' value")
    rest = t.drop_columns([path_column])
    for reserved in ("clip_id", "path"):
        if reserved in rest.column_names:
            raise InputError(f"the list {path} has a column '{reserved}', a name the output "
                             "uses itself: rename it")
    return pa.Table.from_arrays([pa.array(paths, pa.string())] + rest.columns,
                                names=["path"] + rest.column_names)


def collect(paths=(), lists=(), path_column="path"):
    """-> (table clip_id, path, carried..., notes): duplicate clips once."""
    tables, plain = [], []
    for p in paths:
        if os.path.isdir(p):
            plain += _folder(p)
        elif os.path.lexists(p):
            plain.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    if plain:
        tables.append(pa.table({"path": pa.array([os.path.abspath(p) for p in plain],
                                                 pa.string())}))
    for lst in lists:
        tables.append(_list_table(lst, path_column))
    if not tables:
        return pa.table({"clip_id": pa.array([], pa.string()),
                         "path": pa.array([], pa.string())}), []
    t = pa.concat_tables(tables, promote_options="default")
    ids = [clip_id(p) for p in t.column("path").to_pylist()]
    seen, keep, notes = set(), [], []
    for i, cid in enumerate(ids):
        if cid in seen:
            notes.append(f"{t.column('path')[i]} is listed twice: tokenized once")
        else:
            seen.add(cid)
            keep.append(i)
    t = t.take(pa.array(keep, pa.int64()))
    return t.add_column(0, "clip_id", pa.array([ids[i] for i in keep], pa.string())), notes
