"""coordtok-dataset: `tokenize` a video collection into Parquet on Ray Data
(docs/dataset.md).  Exit status: 0 the job completed (clips that cannot be
tokenized are error rows, counted in the summary), 1 the job failed, 2 a
usage or set-up error (arguments, inputs, output folder, model, cluster)."""
import argparse
import logging
import os
import socket
import sys

import pyarrow as pa

from . import inputs, store

PROG = "coordtok-dataset"


class SetupError(Exception):
    """Refused before any work: the message says what is wrong."""


def _parser():
    p = argparse.ArgumentParser(prog=PROG, description="Tokenize video collections with "
                                "CoordTok on Ray Data, into Parquet (docs/dataset.md).")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tokenize", help="videos -> Parquet token shards",
                       description="Every window of every clip -> one Parquet row "
                       "(OUT/windows), one row per clip with its status (OUT/clips). A rerun "
                       "into the same OUT skips the clips finished before.")
    t.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="video files and folders (searched recursively for video files)")
    t.add_argument("--list", action="append", default=[], metavar="FILE",
                   help="a list of clips: text (one path a line), .csv or .parquet with a path "
                   "column; other columns are carried into the output (repeatable)")
    t.add_argument("--path-column", default="path", metavar="NAME",
                   help="the path column of CSV/Parquet lists (default: path)")
    t.add_argument("--out", required=True, metavar="DIR", help="output folder")
    t.add_argument("--address", metavar="ADDR",
                   help="an existing Ray cluster (HOST:PORT of the head, or auto); default: "
                   "a local Ray started for this job")
    t.add_argument("--workers", type=int, metavar="N",
                   help="tokenizer actors, one model each (default: the cluster's CPUs "
                   "divided by --threads; with cuda, its GPUs)")
    t.add_argument("--threads", type=int, default=1, metavar="N",
                   help="CPU threads per worker (default 1); tokens are bit-identical to "
                   "`coordtok encode --threads N`")
    t.add_argument("--model", metavar="F", help="weight file (default: the default model); "
                   "the same path must exist on every node")
    t.add_argument("--device", default="cpu", metavar="DEV",
                   help="cpu (default) or cuda: every worker asks Ray for one GPU")
    t.add_argument("--size", choices=("model", "native"), default="model",
                   help="model: frames scaled to the model's size, one tile (default); "
                   "native: frames at their own size, cut into tiles (as `coordtok encode`)")
    t.add_argument("--dtype", choices=("f32", "f16"), default="f32",
                   help="element type of the stored planes (default f32)")
    t.add_argument("--clips-per-shard", type=int, default=16, metavar="N",
                   help="clips per Parquet shard, the unit of commit and retry (default 16)")
    t.add_argument("--stall-timeout", type=float, default=120.0, metavar="S",
                   help="give a clip up (an error row) after S seconds without a decoded "
                   "frame (default 120)")
    t.add_argument("--dry-run", action="store_true",
                   help="list the work (clips to do and to skip) and stop")
    return p


def _check_args(a):
    if a.threads < 1 or a.threads > 256:
        raise SetupError("--threads must be 1 to 256")
    if a.workers is not None and a.workers < 1:
        raise SetupError("--workers must be at least 1")
    if not a.stall_timeout > 0:
        raise SetupError("--stall-timeout must be positive")
    if a.clips_per_shard < 1:
        raise SetupError("--clips-per-shard must be at least 1")
    if a.device not in ("cpu", "cuda"):
        if a.device.startswith("cuda:"):
            raise SetupError(f"--device {a.device}: on Ray each worker gets the GPU Ray assigns "
                             "it; use --device cuda (and CUDA_VISIBLE_DEVICES on a node to "
                             "choose which GPUs Ray may use)")
        raise SetupError(f"unknown device '{a.device}' (cpu or cuda)")
    if not a.inputs and not a.list:
        raise SetupError("nothing to tokenize: give video files, folders or --list FILE")


def _load_model(path, device):
    """The model loads here first, so that a bad file is one clear error,
    not one per worker."""
    import coordtok
    if path and not os.path.isfile(path):
        raise SetupError(f"cannot load the model {path}: no such file")
    try:
        return coordtok.Model(path, "cpu", 1)
    except coordtok.CoordTokError as e:
        raise SetupError(f"cannot load the model {path or '(default)'}: {e}") from None


def _check_address(addr):
    """A HOST:PORT that nothing answers is refused in seconds, not after
    Ray's own minute of retries."""
    if addr in ("auto", "local") or addr.startswith("ray://"):
        return
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise SetupError(f"--address {addr}: expected HOST:PORT (the head's GCS port, 6379 "
                         "unless ray start --port said otherwise), auto or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise SetupError(f"cannot reach a Ray cluster at {addr}: {e.strerror or e} (is "
                         "`ray start --head` running there, and the port open?)") from None


def _start_ray(a):
    import ray
    import ray.data
    kw = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True,
              configure_logging=True)
    if a.address:
        try:
            ray.init(address=a.address, **kw)
        except Exception as e:      # noqa: BLE001 - Ray raises many kinds here
            hint, why = "", f"{e} {e.__cause__ or ''}".lower()
            if "auth" in why or "token" in why:
                hint = (" (the cluster uses token authentication: set RAY_AUTH_MODE=token and "
                        "RAY_AUTH_TOKEN, or ~/.ray/auth_token, to the head's token)")
            raise SetupError(f"cannot join the Ray cluster at {a.address}: {e}{hint}") from None
    else:
        need = (a.workers or 1) * a.threads
        ray.init(num_cpus=max(os.cpu_count() or 1, need), **kw)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False        # ours says clips, windows and frames
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return ray


def _default_workers(ray, a):
    res = ray.cluster_resources()
    if a.device == "cuda":
        n = int(res.get("GPU", 0))
        if n < 1:
            raise SetupError("--device cuda: the Ray cluster has no GPU")
        return n
    return max(1, int(res.get("CPU", 1)) // a.threads)


def _check_same_settings(a, model):
    """A rerun adds to a folder only tokens made as the ones there."""
    files = store.windows_files(a.out) if os.path.isdir(a.out) else []
    if not files:
        return
    import pyarrow.parquet as pq
    from . import schema
    try:
        there = schema.read_metadata(pq.read_schema(files[0]))
    except Exception as e:      # noqa: BLE001 - any unreadable shard is a reason to stop
        raise SetupError(f"{files[0]} is not a shard this tool wrote: {e}") from None
    mine = {"model_id": model.model_id, "size": a.size, "dtype": a.dtype}
    diff = [f"{k} {there.get(k)} (this job: {v})" for k, v in mine.items() if there.get(k) != v]
    if diff:
        raise SetupError(f"{a.out} holds tokens made with {', '.join(diff)}: a rerun must use "
                         "the same model, --size and --dtype, or another --out")


def tokenize(a, out=sys.stdout, err=sys.stderr):
    _check_args(a)
    try:
        clips, notes = inputs.collect(a.inputs, a.list, a.path_column)
    except inputs.InputError as e:
        raise SetupError(str(e)) from None
    for n in notes:
        print(f"{PROG}: note: {n}", file=err)
    # refusals before anything is written
    model = _load_model(a.model, a.device)
    if a.address and not a.dry_run:
        _check_address(a.address)
    try:
        lock = store.prepare(a.out, a.dry_run)
    except store.OutputError as e:
        raise SetupError(str(e)) from None
    model_path = os.path.abspath(a.model) if a.model else None
    _check_same_settings(a, model)
    finished = store.finished_clip_ids(a.out) if os.path.isdir(os.path.join(a.out, "clips")) \
        else set()
    ids = clips.column("clip_id").to_pylist()
    todo_idx = [i for i, c in enumerate(ids) if c not in finished]
    todo = clips.take(pa.array(todo_idx, pa.int64()))
    skipped = clips.num_rows - todo.num_rows

    if a.dry_run:
        done_set = set(todo_idx)
        for i, p in enumerate(clips.column("path").to_pylist()):
            print(f"{'todo' if i in done_set else 'skip'}  {ids[i]}  {p}", file=out)
        extra = [f.name for f in clips.schema if f.name not in ("clip_id", "path")]
        print(f"{todo.num_rows} clips to tokenize, {skipped} finished before; model "
              f"{model.model_id} ({model.width}x{model.height}, T={model.T}), size {a.size}, "
              f"dtype {a.dtype}, {a.threads} thread(s) per worker, shards of "
              f"{a.clips_per_shard} clips, into {a.out}"
              + (f"; carried columns: {', '.join(extra)}" if extra else ""), file=out)
        return 0

    job_id = store.claim(a.out)             # an older job's stray workers stop committing
    removed = store.remove_orphans(a.out)
    if removed:
        print(f"{PROG}: removed {removed} uncommitted file(s) of an interrupted run", file=err)
    from .progress import Progress
    progress = Progress(todo.num_rows, skipped, stream=err)
    if todo.num_rows:
        ray = _start_ray(a)
        progress.restart()                  # rates without Ray's start-up
        try:
            workers = a.workers or _default_workers(ray, a)
            from . import job
            for batch in job.run(todo, os.path.abspath(a.out), model_path, a.device,
                                 a.threads, a.dtype, a.size, workers, a.clips_per_shard,
                                 a.stall_timeout, job_id):
                progress.add(batch)
        finally:
            ray.shutdown()
    progress.show(final=True)
    print(progress.summary(a.out), file=out)
    lock.close()
    return 0


def main(argv=None):
    a = _parser().parse_args(argv)
    try:
        if a.command == "tokenize":
            return tokenize(a)
    except SetupError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; what was committed stays: rerun to finish",
              file=sys.stderr)
        return 130
    except Exception as e:      # noqa: BLE001 - Ray's and the job's failures, said plainly
        print(f"{PROG}: the job failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 2
