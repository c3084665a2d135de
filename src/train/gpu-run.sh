#!/usr/bin/env bash
# The whole lent-GPU training run in one call of the device tool (run from
# the repository root; results under $OUT):
#
#   bash src/train/gpu-run.sh                       # on the GPU machine: 8 minutes
#   OUT=/tmp/ct-rehearsal nice -n 19 bash src/train/gpu-run.sh --device cpu --rehearse --minutes 1.5
#
# 1. unpacks the training data pack (src/train/data/train-pack.tar, numpy only);
# 2. trains the runs of --runs side by side on the one device, each for
#    --minutes of training time, cut short so that the whole call ends within
#    --call-seconds (default 570) (src/train/train.py):
#      finetune  the shipped model (src/models/coordtok-default.safetensors),
#                32 windows x 32 decoded frames per step, lr 2e-4 -> 1e-5;
#      grow      a larger network from scratch (enc 256 wide, 4+4 blocks;
#                decoder 192 wide, 6 blocks; same token layout), lr 6e-4 -> 2e-5;
#    the validation clip of the pack is reconstructed every --eval-every steps
#    (curve.tsv); cockatoo.mp4 is not in the pack and is never looked at;
# 3. exports each run (F16 safetensors, what the C engine loads) and writes
#    $OUT/log.txt (refreshed every 15 s, so a cut-off call still reports) and
#    $OUT/results.tar.part-NN (<= 15 MiB each): the exports, logs and curves.
#    Here: bash src/train/gpu-join.sh DIR_WITH_PARTS DEST joins and checks them.
#
# Needs: python3 with PyTorch (2.x on the GPU machine; 1.13 works), numpy,
# Pillow or OpenCV or imageio (photographs of the pack).  No GStreamer, no
# network, nothing installed.  --rehearse: the same steps with CPU-sized
# batches and a tiny "grow" network (the data, the code path and the
# outputs are the same).
set -euo pipefail

MINUTES=8
CALL_SECONDS=570      # the whole call ends by then (the device tool allows 600 s)
STEPS=1000000
RUNS="finetune grow"
DEVICE=cuda
PY=${PYTHON:-python3}
WORKERS=auto
EVAL_EVERY=100
REHEARSE=0
COMPILE=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;          # also stop after this many steps (tests)
    --call-seconds) CALL_SECONDS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --eval-every) EVAL_EVERY=$2; shift 2 ;;
    --compile) COMPILE=(--compile); shift ;;
    --rehearse) REHEARSE=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "gpu-run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
: "${OUT:?gpu-run.sh: set OUT to the folder for the results}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
mkdir -p "$OUT"
WORK=${WORK:-$(mktemp -d /tmp/ct-gpu-run.XXXXXX)}
mkdir -p "$WORK"
LOG=$OUT/log.txt
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$WORK/run.log" >&2; }

n_runs=$(echo $RUNS | wc -w)
if [ "$WORKERS" = auto ]; then
  if [ "$REHEARSE" = 1 ]; then WORKERS=1
  else WORKERS=$(( ($(nproc) - 2) / n_runs )); [ "$WORKERS" -ge 1 ] || WORKERS=1
  fi
fi

say "gpu-run.sh: runs '$RUNS', $MINUTES min each (the call ends within $CALL_SECONDS s), device $DEVICE, $WORKERS sampling workers per run, work $WORK"
{ uname -a; nproc; free -g | head -2; nvidia-smi 2>/dev/null || echo "(no nvidia-smi)"
  $PY -c 'import torch, numpy; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(), "numpy", numpy.__version__)'; } > "$WORK/machine.txt" 2>&1 || true

report() {   # $OUT/log.txt: what happened so far (also while training)
  { echo "# gpu-run.sh $(date -u +%FT%TZ), $(( $(date +%s) - T0 )) s since start"
    cat "$WORK/run.log" 2>/dev/null
    echo "## machine"; cat "$WORK/machine.txt" 2>/dev/null
    for r in $RUNS; do
      echo "## $r: curve.tsv"; cat "$WORK/$r/curve.tsv" 2>/dev/null || echo "(none yet)"
      echo "## $r: train.log (last 40 lines)"; tail -n 40 "$WORK/$r/train.log" 2>/dev/null || true
      echo "## $r: stderr (last 20 lines)"; tail -n 20 "$WORK/$r.stderr" 2>/dev/null || true
    done; } > "$LOG.tmp" && mv "$LOG.tmp" "$LOG"
}

# 1. data
$PY src/train/data_pack.py --unpack src/train/data/train-pack.tar --out "$WORK/data" \
  >> "$WORK/run.log" 2>&1 || { say "unpacking the data pack failed"; report; exit 1; }
say "data unpacked"

# 2. training, the runs side by side
GROW_MODEL='{"enc_dim":256,"enc_heads":4,"enc_vit_layers":4,"enc_cross_layers":4,"dec_dim":192,"dec_heads":4,"dec_layers":6}'
BATCH=(--batch 32 --seqs 32)
if [ "$REHEARSE" = 1 ]; then
  GROW_MODEL='{"enc_dim":32,"enc_heads":2,"enc_vit_layers":1,"enc_cross_layers":1,"dec_dim":32,"dec_heads":2,"dec_layers":1}'
  BATCH=(--batch 1 --seqs 2)
fi
run_args() {
  case "$1" in
    finetune) echo --init-from src/models/coordtok-default.safetensors --lr 2e-4 --min-lr 1e-5 \
                   --warmup 50 --aux 0 --seed 21 ;;
    grow) echo --model "$GROW_MODEL" --lr 6e-4 --min-lr 2e-5 --warmup 100 --aux 0.2 \
               --aux-steps 300 --seed 22 ;;
    *) echo "gpu-run.sh: unknown run '$1' (finetune, grow)" >&2; return 1 ;;
  esac
}
# training stops by STOP_AT whatever --minutes says (final evaluation, export
# and packing need ~40 s); a hung run is killed 30 s after STOP_AT
STOP_AT=$(( T0 + CALL_SECONDS - 40 ))
LIMIT=$(( STOP_AT + 30 - $(date +%s) ))
[ "$LIMIT" -gt 30 ] || { say "no time left to train (--call-seconds $CALL_SECONDS)"; report; exit 1; }
for r in $RUNS; do run_args "$r" > /dev/null || exit 2; done
pids=()
for r in $RUNS; do
  read -r -a extra <<< "$(run_args "$r")"
  mkdir -p "$WORK/$r"
  (OMP_NUM_THREADS=1 timeout -k 10 "$LIMIT" $PY src/train/train.py --out "$WORK/$r" \
      --data "$WORK/data" --device "$DEVICE" --workers "$WORKERS" "${BATCH[@]}" \
      --minutes "$MINUTES" --stop-at "$STOP_AT" --steps "$STEPS" --motion 0.5 --threads 1 \
      --eval-every "$EVAL_EVERY" --eval-clip "" --val-clip "$WORK/data/val/val_motion.npy" \
      --ckpt-every 500 --quiet "${COMPILE[@]}" "${extra[@]}" \
      --export "$WORK/$r/$r.safetensors" > "$WORK/$r.stderr" 2>&1
   echo $? > "$WORK/$r.rc") &
  pids+=($!)
  say "started $r: ${extra[*]}"
done
while :; do
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 1 ] || break
  report; sleep 15 & wait $! || true
done
wait || true

# 3. exports (from the last checkpoint where a run died before exporting), pack
for r in $RUNS; do
  rc=$(cat "$WORK/$r.rc" 2>/dev/null || echo "?")
  if [ ! -s "$WORK/$r/$r.safetensors" ] && [ -s "$WORK/$r/last.pt" ]; then
    $PY src/train/train.py --out "$WORK/$r" --export-only --export "$WORK/$r/$r.safetensors" \
      --quiet >> "$WORK/$r.stderr" 2>&1 || true
    say "$r: exit status $rc; exported from its last checkpoint"
  else
    say "$r: exit status $rc"
  fi
done
(cd "$WORK" && sha256sum */*.safetensors 2>/dev/null > SHA256SUMS || true
 files=(SHA256SUMS machine.txt run.log)
 for r in $RUNS; do
   for f in "$r/$r.safetensors" "$r/train.log" "$r/curve.tsv" "$r.stderr"; do
     [ -e "$f" ] && files+=("$f")
   done
 done
 tar cf results.tar "${files[@]}")
rm -f "$OUT"/results.tar.part-*
split -b 15M -d -a 2 "$WORK/results.tar" "$OUT/results.tar.part-"
parts=$(ls "$OUT"/results.tar.part-* | wc -l)
say "results.tar: $(stat -c %s "$WORK/results.tar") bytes in $parts parts of at most 15 MiB; sha256 $(sha256sum "$WORK/results.tar" | cut -d' ' -f1)"
cat "$WORK/SHA256SUMS" >> "$WORK/run.log"
[ "$parts" -le 7 ] || say "WARNING: $parts parts + log.txt is more than the 8 files that come back"
say "done"
report
