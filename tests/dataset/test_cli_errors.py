"""coordtok-dataset refusals and bookkeeping that need no Ray: every refusal
exits 2 with a sentence saying what is wrong, before any work; --dry-run
lists the work and writes nothing; a second job on a folder is refused;
an interrupted run's uncommitted files are removed."""
import os
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq

from coordtok.dataset import store

CLIP = "/usr/share/doc/opencv-doc/examples/data/tree.avi"
failures = []


def tokenize(*args):
    return subprocess.run([sys.executable, "-m", "coordtok.dataset", "tokenize"] + list(args),
                          capture_output=True, text=True, timeout=60)


def refused(what, args, words):
    r = tokenize(*args)
    ok = r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr
    print(f"{'ok  ' if ok else 'FAIL'} {what}: rc {r.returncode}: {r.stderr.strip()[-300:]}")
    if not ok:
        failures.append(what)


def main():
    tmp = tempfile.mkdtemp(prefix="coordtok-dataset-cli-", dir="/tmp")
    out = os.path.join(tmp, "out")
    afile = os.path.join(tmp, "a-file")
    with open(afile, "w") as f:
        f.write("not weights, not a folder\n")
    refused("nothing to do", ["--out", out], "nothing to tokenize")
    refused("missing input", ["/nonexistent/clip.mp4", "--out", out], "no such file or folder")
    refused("model that does not load", [CLIP, "--out", out, "--model", afile],
            "cannot load the model")
    refused("model missing", [CLIP, "--out", out, "--model", "/nonexistent.safetensors"],
            "cannot load the model")
    refused("output is a file", [CLIP, "--out", afile], "is not a folder")
    refused("output under a file", [CLIP, "--out", os.path.join(afile, "out")],
            "cannot create the output folder")
    refused("address not HOST:PORT", [CLIP, "--out", out, "--address", "nohost"],
            "expected HOST:PORT")
    refused("address nobody answers", [CLIP, "--out", out, "--address", "127.0.0.1:9"],
            "cannot reach a Ray cluster at 127.0.0.1:9")
    refused("device cuda:1", [CLIP, "--out", out, "--device", "cuda:1"], "use --device cuda")
    refused("threads 0", [CLIP, "--out", out, "--threads", "0"], "--threads must be")
    bad_list = os.path.join(tmp, "bad.csv")
    with open(bad_list, "w") as f:
        f.write("file,caption\nx.mp4,hello\n")
    refused("list without a path column", ["--list", bad_list, "--out", out],
            "has no 'path' column")

    # --dry-run: the work listed, the carried columns named, nothing written
    good_list = os.path.join(tmp, "good.csv")
    with open(good_list, "w") as f:
        f.write(f"path,caption\n{CLIP},a tree\n")
    r = tokenize("--list", good_list, "--out", out, "--dry-run")
    ok = (r.returncode == 0 and f"todo" in r.stdout and CLIP in r.stdout and
          "1 clips to tokenize" in r.stdout and "carried columns: caption" in r.stdout and
          not os.path.exists(out))
    print(f"{'ok  ' if ok else 'FAIL'} dry run: {r.stdout.strip()[-300:]} {r.stderr[-300:]}")
    if not ok:
        failures.append("dry run")

    # one job per folder
    lock = store.prepare(out)
    refused("second job on a folder", [CLIP, "--out", out], "another coordtok-dataset job")

    # an interrupted run's files: a windows file without its commit mark
    # and a temporary file go; a committed shard stays
    t = pa.table({"clip_id": ["x"]})
    for name in ("part-orphan.parquet", "part-kept.parquet", ".part-kept.parquet.tmp-h-1"):
        pq.write_table(t, os.path.join(out, "windows", name))
    pq.write_table(t, os.path.join(out, "clips", "part-kept.parquet"))
    removed = store.remove_orphans(out)
    left = sorted(os.listdir(os.path.join(out, "windows")))
    ok = removed == 2 and left == ["part-kept.parquet"] and \
        store.windows_files(out) == [os.path.join(out, "windows", "part-kept.parquet")]
    print(f"{'ok  ' if ok else 'FAIL'} orphans removed: {removed}, left {left}")
    if not ok:
        failures.append("orphans")
    lock.close()

    subprocess.run(["rm", "-rf", tmp])
    print("FAILED: " + ", ".join(failures) if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
