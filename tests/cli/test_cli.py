#!/usr/bin/python3
"""The coordtok CLI as a newcomer meets it: exit codes and messages.

Usage: test_cli.py COORDTOK TESTS_DATA_DIR
"""
import os
import subprocess
import sys

coordtok, data = sys.argv[1], sys.argv[2]
COCKATOO = "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"
failures = 0


def check(args, rc, *needles, env=None):
    global failures
    e = dict(os.environ)
    e.pop("COORDTOK_ENC_HEADS", None)
    e.pop("COORDTOK_DEC_HEADS", None)
    e.update(env or {})
    p = subprocess.run([coordtok] + args, capture_output=True, text=True, env=e)
    out = p.stdout + p.stderr
    ok = p.returncode == rc and all(n in out for n in needles)
    print(("ok  " if ok else "FAIL") + f" coordtok {' '.join(args)} -> {p.returncode}: {out.strip()[:160]!r}")
    if not ok:
        failures += 1
        print(f"     wanted exit {rc} and {needles}")


golden = os.path.join(data, "golden", "tiny-full")
check(["--version"], 0, "coordtok 0.", "cpu kernels:")
check(["--help"], 0, "usage: coordtok", "--help")
check([], 2, "usage")
check(["frobnicate"], 2, "unknown command 'frobnicate'")
check(["info", "--help"], 0, "[MODEL]")
# every subcommand: --help, --version, unknown options and wrong argument counts (exit 2)
for cmd, usage in [("info", "[MODEL]"), ("convert", "IN.pth OUT.safetensors"),
                   ("golden", "CASE_DIR..."), ("bench", "[MODEL]"), ("encode", "VIDEO OUT.ctok"),
                   ("decode", "IN.ctok OUT"), ("reconstruct", "VIDEO OUT.rgb")]:
    check([cmd, "--help"], 0, usage, "--version")
    check([cmd, "--version"], 0, "coordtok 0.")
    check([cmd, "--no-such-option"], 2, "Unknown option --no-such-option", f"coordtok {cmd} --help")
for cmd in ("encode", "decode", "reconstruct", "convert"):
    check([cmd, "a"], 2, "need")
    check([cmd, "a", "b", "c"], 2, "need")
check(["golden"], 2, "no case folder")
check(["info", "a", "b"], 2, "one MODEL at most")
check(["bench", "a", "b"], 2, "one MODEL at most")
check(["info", os.path.join(golden, "checkpoint.pth")], 1, "not a safetensors weight file",
      "coordtok convert")
if os.path.exists(COCKATOO):
    check(["info", COCKATOO], 1, "MP4")
# a text file given as weights says so (was: "header length 80263... runs past the end")
check(["info", os.path.join(os.path.dirname(os.path.dirname(data)), "README.md")], 1,
      "not a safetensors weight file: it is a text file")
# head counts are not in the shapes: never a silent guess
check(["info", os.path.join(golden, "weights.safetensors")], 1, "attention heads",
      "--enc-heads")
check(["info", os.path.join(golden, "weights.safetensors")], 0, "heads=4",
      env={"COORDTOK_ENC_HEADS": "4", "COORDTOK_DEC_HEADS": "4"})
check(["info"], 0, "id ")
# Without $COORDTOK_MODEL_DIR and from another directory (a fresh clone's
# build, uninstalled): the default model is the one linked into the library,
# and it is the shipped file, same id.
shipped = os.path.join(os.path.dirname(os.path.dirname(data)), "src", "models",
                       "coordtok-default.safetensors")
def model_id(args, env):
    p = subprocess.run([coordtok, "info"] + args, capture_output=True, text=True, env=env,
                       cwd="/")
    ids = [l.split()[1] for l in p.stdout.splitlines() if l.startswith("id ")]
    return p.returncode, ids[0] if ids else p.stdout + p.stderr
bare = {k: v for k, v in os.environ.items() if k != "COORDTOK_MODEL_DIR"}
rc_e, id_e = model_id([], bare)
rc_f, id_f = model_id([shipped], bare)
ok = rc_e == 0 and rc_f == 0 and id_e == id_f
print(("ok  " if ok else "FAIL") + f" embedded default model without COORDTOK_MODEL_DIR: "
      f"{rc_e} {id_e!r}, shipped file {rc_f} {id_f!r}")
failures += 0 if ok else 1
# device=cuda on a machine without an NVIDIA driver names what is missing
# (was: "CUDA driver version is insufficient for CUDA runtime version")
import ctypes
try:
    ctypes.CDLL("libcuda.so.1")
    have_driver = True
except OSError:
    have_driver = False
cuda_module = os.path.join(os.environ.get("COORDTOK_MODULE_DIR", ""), "libcoordtok-cuda.so")
if not have_driver and os.path.exists(cuda_module):
    check(["bench", "--device", "cuda", "--runs", "1"], 1, "no NVIDIA driver on this machine")
# convert: the golden tiny model has 4 heads, which the shapes do not say
import tempfile
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "tiny.safetensors")
    check(["convert", os.path.join(golden, "checkpoint.pth"), out], 1, "attention heads")
    if os.path.exists(out) or os.path.exists(out + ".tmp"):
        print("FAIL refused conversion left a file behind")
        failures += 1
    check(["convert", "--enc-heads", "4", "--dec-heads", "4", os.path.join(golden, "checkpoint.pth"),
           out], 0, "wrote")
    check(["info", out], 0, "heads=4")
sys.exit(1 if failures else 0)
