#!/usr/bin/env bash
# Joins what src/train/gpu-run.sh left under $OUT (results.tar.part-NN and
# log.txt) back into results.tar, checks it against the SHA-256 the run
# printed, unpacks it into DEST and checks the exports:
#
#   bash src/train/gpu-join.sh FOLDER_WITH_PARTS DEST
#   build/src/cli/coordtok info DEST/grow/grow.safetensors
#   /usr/bin/python3 src/train/evaluate.py --engine c --model DEST/grow/grow.safetensors \
#       --clip DEST/val_motion.npy     # the validation clip; never choose by cockatoo.mp4
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: gpu-join.sh FOLDER_WITH_PARTS DEST" >&2; exit 2; }
SRC=$1 DEST=$2
ls "$SRC"/results.tar.part-* > /dev/null 2>&1 || { echo "gpu-join.sh: no results.tar.part-* in $SRC" >&2; exit 1; }
mkdir -p "$DEST"
cat "$SRC"/results.tar.part-* > "$DEST/results.tar"
want=$(grep -o 'results.tar: .* sha256 [0-9a-f]\{64\}' "$SRC/log.txt" 2>/dev/null | tail -n 1 | grep -o '[0-9a-f]\{64\}$' || true)
have=$(sha256sum "$DEST/results.tar" | cut -d' ' -f1)
if [ -z "$want" ]; then
  echo "gpu-join.sh: $SRC/log.txt has no sha256 of results.tar (run cut off?); not checked" >&2
elif [ "$want" != "$have" ]; then
  echo "gpu-join.sh: joined results.tar has sha256 $have, the run wrote $want: a part is missing or damaged" >&2
  exit 1
else
  echo "results.tar: sha256 matches the run's ($have)"
fi
tar xf "$DEST/results.tar" -C "$DEST"
(cd "$DEST" && if [ -s SHA256SUMS ]; then sha256sum -c SHA256SUMS; else echo "no exports in the results" >&2; exit 1; fi)
# the validation clip, for evaluate.py (the same frames the run logged)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
"$PY" "$ROOT/src/train/data_pack.py" --val "$ROOT/src/train/data/train-pack.tar" --out "$DEST/val_motion.npy"
ls -la "$DEST"/*/*.safetensors
