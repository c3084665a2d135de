"""coordtok-dataset on a real two-node Ray cluster (ray_cluster.py) over
clips Debian ships, a corrupt copy, an empty file and a text file:

- every window of every good clip exactly once, bit-identical to the records
  of the same GStreamer line `coordtok encode` runs (--size model: with the
  model's size in the caps; --size native --dtype f16: `coordtok encode
  --dtype f16` itself), threads 1 on both sides;
- error rows with their reasons for the bad inputs, the CSV's columns
  carried through;
- a worker process killed with SIGKILL mid-job: the job still completes,
  every window once; work done on both nodes;
- a rerun skips everything and changes nothing;
- the driver killed with SIGKILL mid-job: a rerun completes the output,
  every window once;
- the output read by pyarrow alone (no Ray imported), the NumPy batches,
  the PyTorch IterableDataset and row -> Tokens -> Model.decode;
- a wrong --address refused in seconds.

usage: test_tokenize_cluster.py CLI   (CLI: the built `coordtok` command)
"""
import collections
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from ray_cluster import RayCluster

import coordtok

DATA = "/usr/share/doc/opencv-doc/examples/data"
GOOD = {   # name -> source (the short clips Debian ships; vtest.avi: 7 windows)
    "tree.avi": f"{DATA}/tree.avi",
    "megamind.avi": f"{DATA}/Megamind.avi",
    "cockatoo.mp4": "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
    "vtest.avi": f"{DATA}/vtest.avi",
}
BUDGET_S = 480        # the whole test; meson's timeout is above it


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def make_inputs(tmp):
    clips = os.path.join(tmp, "clips")
    os.makedirs(clips)
    for name, src in GOOD.items():
        check(os.path.exists(src), f"{src} missing (opencv-doc, python3-imageio)")
        os.symlink(src, os.path.join(clips, name))
    data = bytearray(open(GOOD["tree.avi"], "rb").read())
    for i in range(12, 4096):           # RIFF tag kept, the AVI headers scrambled
        data[i] = (data[i] * 7 + 13) & 255
    with open(os.path.join(clips, "corrupt.avi"), "wb") as f:
        f.write(data)
    open(os.path.join(clips, "empty.mp4"), "wb").close()
    with open(os.path.join(clips, "notes.mp4"), "w") as f:
        f.write("this is a text file, not a video\n" * 20)
    lst = os.path.join(tmp, "list.csv")
    with open(lst, "w") as f:
        f.write("path,caption,label\n")
        for i, name in enumerate(sorted(os.listdir(clips))):
            f.write(f"clips/{name},caption of {name},{i}\n")
    return clips, lst


def reference_model_size(cli_env, src, out, width, height):
    """The line `coordtok encode` runs (src/cli/cmd-encode.c), with the
    model's size in the caps, as gst-launch-1.0 runs it."""
    subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={src}", "!", "decodebin", "!",
                    "videoconvert", "!", "videoscale", "!",
                    f"video/x-raw,format=RGB,width={width},height={height}", "!",
                    "coordtokenc", "threads=1", "!", "filesink", f"location={out}"],
                   env=cli_env, check=True, timeout=120)
    return list(coordtok.read_tokens(out))


def tokenize(env, *args, timeout=300):
    cmd = [sys.executable, "-m", "coordtok.dataset", "tokenize"] + list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def read_windows_pyarrow_only(out):
    """The windows and clips tables through pyarrow alone, in a fresh Python
    (then pandas reads the windows too)."""
    code = ("import sys, pyarrow.parquet as pq\n"
            f"w = pq.read_table({os.path.join(out, 'windows')!r})\n"
            f"c = pq.read_table({os.path.join(out, 'clips')!r})\n"
            "assert 'ray' not in sys.modules and 'coordtok' not in sys.modules\n"
            "import pandas\n"
            f"assert len(pandas.read_parquet({os.path.join(out, 'windows')!r})) == w.num_rows\n"
            "print(w.num_rows, c.num_rows)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"pyarrow alone cannot read the output: {r.stderr[-1500:]}")
    return tuple(int(x) for x in r.stdout.split())


def planes_equal(row, ref, dtype=np.float32):
    return all(np.array_equal(np.asarray(row[p], dtype=dtype),
                              getattr(ref, p).astype(dtype).ravel()) for p in ("xy", "yt", "xt"))


def check_job_a(out, clips_dir, refs, both_nodes=True):
    import pyarrow.parquet as pq
    import coordtok.dataset as cds
    n_windows, n_clips = read_windows_pyarrow_only(out)
    clips = cds.read_clips(out).to_pylist()
    by_name = {os.path.basename(c["path"]): c for c in clips}
    check(len(clips) == n_clips == 7 and len(by_name) == 7,
          f"clips table: {len(clips)} rows for 7 inputs: {sorted(by_name)}")
    for name in GOOD:
        check(by_name[name]["status"] == "ok", f"{name}: {by_name[name]}")
        check(by_name[name]["caption"] == f"caption of {name}", f"{name}: caption not carried")
    for name, words in (("corrupt.avi", ""), ("empty.mp4", "empty"), ("notes.mp4", "text")):
        c = by_name[name]
        check(c["status"] == "error" and c["error"] and words in c["error"],
              f"{name}: expected an error row with a reason ({words!r}), got {c}")
        print(f"  error row {name}: {c['error']}")
    nodes = {c["node"] for c in clips}
    check(len(nodes) == 2 or not both_nodes, f"the work ran on {len(nodes)} node(s), not 2: {nodes}")

    table = pq.read_table(cds.shards(out))
    check(table.num_rows == n_windows, f"shards() gives {table.num_rows} windows, the folder "
          f"{n_windows}: an uncommitted file is in windows/")
    rows = table.to_pylist()
    seen = collections.Counter((r["clip_id"], r["window"]) for r in rows)
    dup = [k for k, n in seen.items() if n > 1]
    check(not dup, f"windows written twice: {dup}")
    total = 0
    for name, ref in refs.items():
        mine = sorted((r for r in rows if os.path.basename(r["path"]) == name),
                      key=lambda r: r["window"])
        check([r["window"] for r in mine] == list(range(len(ref))),
              f"{name}: windows {[r['window'] for r in mine]}, expected 0..{len(ref) - 1}")
        for r, t in zip(mine, ref):
            check(planes_equal(r, t), f"{name} window {r['window']}: planes differ from the "
                  "coordtok encode pipeline's")
            check((r["n_frames"], r["pts"], r["width"], r["height"], r["model_id"]) ==
                  (t.n_frames, t.pts, t.width, t.height, t.model_id),
                  f"{name} window {r['window']}: header fields differ")
            check(r["label"] is not None and r["caption"] == f"caption of {name}",
                  f"{name}: list columns not carried into the windows")
        check(by_name[name]["windows"] == len(ref) and
              by_name[name]["frames"] == sum(t.n_frames for t in ref),
              f"{name}: clips row says {by_name[name]['windows']} windows")
        total += len(ref)
    check(n_windows == total, f"{n_windows} windows in the output, {total} expected")
    return rows


def check_reading(out, rows, model):
    import coordtok.dataset as cds
    from coordtok.dataset.torch_dataset import TokenDataset
    import torch
    meta = cds.read_metadata(out)
    n = 0
    for b in cds.iter_batches(out, batch_size=4, shuffle=True, seed=3):
        check(b["xy"].shape[1:] == (1, 16, 16, 8) and b["yt"].shape[1:] == (1, 32, 16, 8),
              f"batch planes {b['xy'].shape} {b['yt'].shape}")
        n += len(b["window"])
    check(n == len(rows), f"iter_batches gave {n} windows of {len(rows)}")
    # two DataLoader workers between them give every window once
    ds = TokenDataset(out, shuffle=True, seed=1, buffer=4)
    got = collections.Counter()
    for item in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2):
        got[(item["clip_id"], int(item["window"]))] += 1
        check(tuple(item["xy"].shape) == (1, 16, 16, 8), f"item xy {tuple(item['xy'].shape)}")
    want = collections.Counter((r["clip_id"], r["window"]) for r in rows)
    check(got == want, f"TokenDataset over 2 workers: {sum(got.values())} items, "
          f"{len(want)} windows; duplicates or gaps")
    # one row back to pixels
    row = rows[0]
    frames = model.decode(cds.row_to_tokens(row, meta))
    check(frames.shape == (row["n_frames"], 128, 128, 3) and frames.dtype == np.uint8,
          f"decoded row: {frames.shape} {frames.dtype}")


def run(cli):
    deadline = time.monotonic() + BUDGET_S
    tmp = tempfile.mkdtemp(prefix="coordtok-dataset-test-", dir="/tmp")
    try:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        clips_dir, lst = make_inputs(tmp)
        model = coordtok.Model(None, "cpu", 1)
        refs = {}
        for name, src in GOOD.items():
            refs[name] = reference_model_size(env, src, os.path.join(tmp, name + ".ctok"),
                                              model.width, model.height)
        native_ref = os.path.join(tmp, "tree-native-f16.ctok")
        subprocess.run([cli, "encode", "--threads", "1", "--dtype", "f16", GOOD["tree.avi"],
                        native_ref], env=env, check=True, capture_output=True, timeout=120)
        native_ref = list(coordtok.read_tokens(native_ref))

        with RayCluster(tmp) as cluster:
            env = dict(cluster.env, OMP_NUM_THREADS="1")
            print(f"cluster up: 2 nodes at {cluster.address} (token auth)")

            # a wrong address: refused in seconds, saying what is wrong
            t0 = time.monotonic()
            r = tokenize(env, clips_dir, "--out", os.path.join(tmp, "never"), "--address",
                         "127.0.0.1:9")
            check(r.returncode == 2 and "cannot reach a Ray cluster at 127.0.0.1:9" in r.stderr,
                  f"wrong --address: rc {r.returncode}, {r.stderr[-800:]}")
            check(time.monotonic() - t0 < 30, "a wrong --address took over 30 s")

            # job A, with a worker killed once the first shard is committed
            out = os.path.join(tmp, "out")
            cmd = [sys.executable, "-m", "coordtok.dataset", "tokenize", "--list", lst,
                   "--out", out, "--address", cluster.address, "--workers", "2",
                   "--threads", "1", "--clips-per-shard", "1", "--stall-timeout", "20"]
            job = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
            killed = None
            seen = set()
            while job.poll() is None and time.monotonic() < deadline:
                done = len(glob.glob(os.path.join(out, "clips", "part-*.parquet")))
                workers = cluster.processes("ClipTokenizer")
                seen.update(workers)
                if killed is None and done >= 1 and workers:
                    check(done < 7, "the job finished before a worker could be killed")
                    killed = workers[-1]
                    os.kill(killed, signal.SIGKILL)
                    print(f"killed worker process {killed} with {done}/7 clips committed")
                time.sleep(0.1)
            if job.poll() is None:
                job.kill()
                raise Failure("job A did not finish in time\n" + cluster.log_tail())
            stdout, stderr = job.communicate()
            check(job.returncode == 0, f"job A: rc {job.returncode}\n{stderr[-3000:]}")
            check(killed is not None, "no worker process was found to kill; the cluster's: " +
                  "; ".join(open(f"/proc/{p}/cmdline").read().replace("\0", " ")[:80]
                            for p in cluster.processes() if os.path.exists(f"/proc/{p}")))
            print("job A:", stdout.strip().splitlines()[-1])
            rows = check_job_a(out, clips_dir, refs)

            # a rerun: everything skipped, nothing written
            before = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(out, "*", "*"))}
            r = tokenize(env, "--list", lst, "--out", out, "--address", cluster.address)
            check(r.returncode == 0 and "7 skipped" in r.stdout and "0 clips tokenized" in r.stdout,
                  f"rerun: rc {r.returncode}, {r.stdout} {r.stderr[-800:]}")
            after = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(out, "*", "*"))}
            check(before == after, "the rerun changed the output")
            print("rerun:", r.stdout.strip().splitlines()[-1])
            r = tokenize(env, "--list", lst, "--out", out, "--dtype", "f16", "--dry-run")
            check(r.returncode == 2 and "dtype f32 (this job: f16)" in r.stderr,
                  f"a rerun with another dtype: rc {r.returncode} {r.stderr[-500:]}")

            # the driver killed mid-job: a rerun completes the output
            out_d = os.path.join(tmp, "out-driver-killed")
            job = subprocess.Popen(cmd[:cmd.index("--out") + 1] + [out_d] +
                                   cmd[cmd.index("--out") + 2:], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while job.poll() is None and time.monotonic() < deadline:
                if glob.glob(os.path.join(out_d, "clips", "part-*.parquet")):
                    break
                time.sleep(0.05)
            done = len(glob.glob(os.path.join(out_d, "clips", "part-*.parquet")))
            check(job.poll() is None and done < 7, f"the job ended before its driver was "
                  f"killed ({done}/7 clips committed)")
            job.kill()
            job.wait()
            print(f"killed the driver with {done}/7 clips committed")
            r = tokenize(env, "--list", lst, "--out", out_d, "--address", cluster.address,
                         "--workers", "2", "--clips-per-shard", "1", "--stall-timeout", "20")
            check(r.returncode == 0, f"rerun after the driver was killed: rc {r.returncode}\n"
                  f"{r.stderr[-2000:]}")
            print("rerun after the driver was killed:", r.stdout.strip().splitlines()[-1])
            check_job_a(out_d, clips_dir, refs, both_nodes=False)

            # --size native --dtype f16: `coordtok encode --dtype f16` itself
            out_n = os.path.join(tmp, "out-native")
            r = tokenize(env, os.path.join(clips_dir, "tree.avi"), "--out", out_n, "--address",
                         cluster.address, "--size", "native", "--dtype", "f16", "--workers", "1")
            check(r.returncode == 0, f"native job: rc {r.returncode} {r.stderr[-2000:]}")
            import pyarrow.parquet as pq
            import coordtok.dataset as cds
            t = pq.read_table(cds.shards(out_n))
            check(t.schema.field("xy").type.value_type.bit_width == 16, "f16 planes not float16")
            nrows = sorted(t.to_pylist(), key=lambda r: r["window"])
            check(len(nrows) == len(native_ref) and all(
                planes_equal(r, x, np.float16) and r["tiles_x"] * r["tiles_y"] == x.n_tiles
                for r, x in zip(nrows, native_ref)),
                "native f16 windows differ from coordtok encode --dtype f16")
            print(f"native f16: {len(nrows)} window(s) of {nrows[0]['tiles_x']}x"
                  f"{nrows[0]['tiles_y']} tiles identical to coordtok encode")

        check_reading(out, rows, model)
        print(f"PASS ({time.monotonic() - deadline + BUDGET_S:.0f} s)")
        return 0
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
