"""The Ray Data job: the clips to do, cut into shards (one Ray block each),
through a pool of ClipTokenizer actors (one model per actor, loaded in its
constructor), each committing its shard itself (store.py).  The driver
only sees one small clips row per clip come back."""
import os
import socket
import time

import pyarrow as pa

from . import schema, store


class ClipTokenizer:
    """A Ray Data callable class: constructed once per actor (the model is
    loaded here and kept: the encoder elements of every clip share its
    weights), then called with one shard of clips at a time."""

    def __init__(self, out, model_path, device, threads, dtype, size, carried,
                 stall_timeout, job_id=None):
        from .clip import init_gstreamer
        import coordtok
        init_gstreamer()
        self.model = coordtok.Model(model_path, device, threads)
        self.out, self.device, self.threads = out, device, threads
        self.dtype, self.size, self.carried = dtype, size, carried
        self.stall_timeout, self.job_id = stall_timeout, job_id
        self.windows_schema = schema.windows_schema(self.model, dtype, size, carried)
        self.clips_schema = schema.clips_schema(carried)
        import ray
        # which Ray node did the work (the hostname alone does not tell two
        # nodes of one machine apart)
        self.node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:12]}"

    def _clip(self, cid, path):
        """-> (window rows or None, clips row)"""
        from .clip import encode_clip
        t0 = time.monotonic()
        try:
            size_bytes = os.stat(path).st_size
        except OSError:
            size_bytes = None
        try:
            tokens = encode_clip(path, self.model, self.size, self.dtype, self.threads,
                                 self.device, self.stall_timeout)
            rows = schema.window_rows(cid, path, tokens, self.dtype)
            status, error, frames = "ok", None, sum(t.n_frames for t in tokens)
        except Exception as e:      # noqa: BLE001 - any failure of a clip is its error row
            rows, status, error, frames = None, "error", str(e) or type(e).__name__, 0
        return rows, dict(clip_id=cid, path=path, status=status, error=error,
                          windows=len(rows["window"]) if rows else 0, frames=frames,
                          seconds=time.monotonic() - t0, source_bytes=size_bytes,
                          node=self.node)

    def __call__(self, batch):
        ids = batch.column("clip_id").to_pylist()
        key = store.shard_key(ids)
        done = store.clips_path(self.out, key)
        if os.path.exists(done):
            # committed by an earlier attempt of this shard (its worker was
            # killed after the commit): nothing to redo, nothing to rewrite
            t = store.pa_read(done)
            return t.select(["clip_id", "status", "windows", "frames", "seconds"]).append_column(
                "reused", pa.array([True] * t.num_rows))
        paths = batch.column("path").to_pylist()
        carried = {f.name: batch.column(f.name).to_pylist() for f in self.carried}
        wcols = {f.name: [] for f in self.windows_schema}
        ccols = {f.name: [] for f in self.clips_schema}
        for i, (cid, path) in enumerate(zip(ids, paths)):
            rows, clip = self._clip(cid, path)
            for name, values in carried.items():
                clip[name] = values[i]
                if rows:
                    rows[name] = [values[i]] * len(rows["window"])
            for name in ccols:
                ccols[name].append(clip[name])
            if rows:
                for name in wcols:
                    wcols[name] += rows[name]
        windows = pa.Table.from_pydict(wcols, schema=self.windows_schema)
        clips = pa.Table.from_pydict(ccols, schema=self.clips_schema)
        store.commit_shard(self.out, key, windows, clips, self.job_id)
        return clips.select(["clip_id", "status", "windows", "frames", "seconds"]).append_column(
            "reused", pa.array([False] * clips.num_rows))


def shards(todo, clips_per_shard):
    """The clips to do -> Arrow tables of clips_per_shard rows (Ray blocks)."""
    return [todo.slice(i, clips_per_shard) for i in range(0, todo.num_rows, clips_per_shard)]


def run(todo, out, model_path, device, threads, dtype, size, workers, clips_per_shard,
        stall_timeout, job_id=None):
    """Yields the clips rows of each shard as the actors commit them."""
    import ray
    import ray.data

    carried = [f for f in todo.schema if f.name not in ("clip_id", "path")]
    ds = ray.data.from_arrow(shards(todo, clips_per_shard))
    gpus = 1 if device.startswith("cuda") else 0
    ds = ds.map_batches(
        ClipTokenizer, batch_size=None, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        fn_constructor_kwargs=dict(out=out, model_path=model_path, device=device,
                                   threads=threads, dtype=dtype, size=size, carried=carried,
                                   stall_timeout=stall_timeout, job_id=job_id),
        num_cpus=threads, num_gpus=gpus)
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        yield batch
