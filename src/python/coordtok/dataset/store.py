"""The output folder and its commits.

    OUT/windows/part-KEY.parquet   the windows of one shard's clips
    OUT/clips/part-KEY.parquet     one row per clip of the shard: the commit mark

A shard (a batch of clips) is committed by writing both files under
temporary names, then renaming the windows file and last the clips file.
KEY is a hash of the shard's clip ids, so a retried shard (a worker killed
by Ray and its batch run again) renames onto the same names: a window is
never there twice.  A clip is finished when a clips file lists it; a windows
file without its clips file (a driver or worker killed between the two
renames) is an orphan: readers ignore it and the next run removes it before
it starts.  One job at a time per folder (an flock on OUT/.lock).
"""
import fcntl
import glob
import hashlib
import os
import socket

import pyarrow as pa
import pyarrow.parquet as pq


class OutputError(Exception):
    """The output folder cannot be used; the message says why."""


def shard_key(clip_ids):
    return hashlib.sha1("\n".join(sorted(clip_ids)).encode()).hexdigest()[:20]


def windows_path(out, key):
    return os.path.join(out, "windows", f"part-{key}.parquet")


def clips_path(out, key):
    return os.path.join(out, "clips", f"part-{key}.parquet")


def committed_keys(out):
    """Keys of the shards whose clips file (the commit mark) exists."""
    return sorted(os.path.basename(p)[5:-8] for p in glob.glob(os.path.join(out, "clips",
                                                                             "part-*.parquet")))


def write_atomic(table, path):
    """Parquet to .NAME.tmp-HOST-PID beside PATH (hidden: pyarrow's folder
    reading skips dot files), then renamed: readers see all or nothing."""
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.tmp-{socket.gethostname()}-{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Superseded(Exception):
    """A newer job owns the folder: this (orphaned) worker must not commit."""


def claim(out):
    """The job's id, written to OUT/.job: workers of an older job (their
    driver killed, the workers not yet ended by Ray) see it change and do
    not commit, so a rerun's shards are the only ones written from then."""
    job = os.urandom(8).hex()
    with open(os.path.join(out, ".job.tmp"), "w") as f:
        f.write(job)
    os.replace(os.path.join(out, ".job.tmp"), os.path.join(out, ".job"))
    return job


def check_owner(out, job):
    try:
        with open(os.path.join(out, ".job")) as f:
            owner = f.read().strip()
    except OSError:
        owner = None
    if owner != job:
        raise Superseded(f"{out} now belongs to job {owner}; this worker's job {job} is over")


def commit_shard(out, key, windows, clips, job=None):
    if job is not None:
        check_owner(out, job)
    write_atomic(windows, windows_path(out, key))
    write_atomic(clips, clips_path(out, key))       # last: the commit mark


def _check_writable(out):
    probe = os.path.join(out, f".write-test-{os.getpid()}")
    try:
        with open(probe, "w") as f:
            f.write("ok")
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"cannot write into the output folder {out}: {e.strerror}") from None


def prepare(out, dry_run=False):
    """Checks (and for a run, creates) OUT; returns the open lock file (keep
    it open for the job) or None on a dry run."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"the output {out} exists and is not a folder")
    if dry_run:
        if os.path.isdir(out) and not os.access(out, os.W_OK):
            raise OutputError(f"cannot write into the output folder {out}: permission denied")
        return None
    try:
        for d in (out, os.path.join(out, "windows"), os.path.join(out, "clips")):
            os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the output folder {e.filename or out}: "
                          f"{e.strerror}") from None
    _check_writable(out)
    lock = open(os.path.join(out, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise OutputError(f"another coordtok-dataset job is writing into {out}") from None
    return lock


def remove_orphans(out):
    """Before a run (the lock held): windows files without a commit mark and
    temporary files of interrupted writes.  Returns how many were removed."""
    keys = set(committed_keys(out))
    n = 0
    for p in glob.glob(os.path.join(out, "windows", "part-*.parquet")):
        if os.path.basename(p)[5:-8] not in keys:
            os.unlink(p)
            n += 1
    for p in glob.glob(os.path.join(out, "*", ".part-*.parquet.tmp-*")):
        os.unlink(p)
        n += 1
    return n


def read_clips(out, columns=None):
    """The clips table of every committed shard (pyarrow alone)."""
    files = [clips_path(out, k) for k in committed_keys(out)]
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files],
                            promote_options="default")


def finished_clip_ids(out):
    t = read_clips(out, columns=["clip_id"])
    return set() if t is None else set(t.column("clip_id").to_pylist())


def windows_files(out):
    """The committed windows files, in key order."""
    return [p for p in (windows_path(out, k) for k in committed_keys(out)) if os.path.exists(p)]


def pa_read(path):
    return pq.read_table(path)
