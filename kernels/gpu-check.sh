#!/usr/bin/env bash
# kernels/gpu-check.sh - every GPU check of the CUDA backend in one call, for
# a session that has a GPU (see docs/cuda.md).  Writes one file per step and
# a summary.txt into RESULTS (default: $OUT if set, else ./gpu-results).
#
#   kernels/gpu-check.sh [RESULTS]
#
# Environment:
#   BUILD=build-cuda   build dir; reused when it already holds the module and
#                      the test programs (e.g. built elsewhere and carried),
#                      otherwise configured and built here (needs meson, nvcc)
#   REBUILD=1          force a fresh build into $BUILD
#   GPU_ARCHS=90       SM list for a fresh build (default: the option's 80;90)
#   BENCH=0            skip the benchmark; BENCH=only: just the benchmark
#                      (the whole script can pass 10 minutes: split it in
#                      two calls, BENCH=0 then BENCH=only)
#   SANITIZER=0        skip compute-sanitizer
#   BENCH_ARGS=...     extra arguments for bench_cuda_vs_torch.py
#
# Steps, cheapest and most telling first: environment, kernel checks
# against a CPU reference, golden cases in fp32 (tolerance 1e-3, spec 7),
# tests/cuda (tf32/bf16 PSNR, CUDA vs CPU at head dim 64, shared weights),
# golden cases in tf32 and bf16 (informative, loose tolerances),
# compute-sanitizer memcheck of the kernels and of one golden case, then
# the benchmark against PyTorch.  Never stops at the first failure.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
RES=${1:-${OUT:-$ROOT/gpu-results}}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)
BUILD=${BUILD:-build-cuda}
SUMMARY=$RES/summary.txt
: > "$SUMMARY"
log () { echo "$*" | tee -a "$SUMMARY"; }

PATH=$PATH:/usr/local/cuda/bin
{
  date; uname -a; echo
  nvidia-smi 2>&1 || echo "nvidia-smi: not found"
  echo; nvcc --version 2>&1 || echo "nvcc: not found"
  echo; git -C "$ROOT" log --oneline -1 2>&1
} > "$RES/env.txt" 2>&1
log "gpu-check in $ROOT, results in $RES"
log "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# ---- build -----------------------------------------------------------------
need="$BUILD/kernels/libcoordtok-cuda.so $BUILD/kernels/kernel-check $BUILD/tests/cuda/test-cuda $BUILD/src/cli/coordtok"
have=1
for f in $need; do [ -e "$f" ] || have=0; done
if [ "$have" = 0 ] || [ "${REBUILD:-0}" = 1 ]; then
  log "building $BUILD"
  {
    if [ -d "$BUILD" ] && [ "${REBUILD:-0}" = 1 ]; then rm -rf "$BUILD"; fi
    meson setup "$BUILD" -Dcuda=enabled ${GPU_ARCHS:+-Dgpu_archs=$GPU_ARCHS} &&
      ninja -C "$BUILD" -j"$(nproc)"
  } > "$RES/build.txt" 2>&1
  log "  build: rc=$? (build.txt)"
else
  log "reusing the build in $BUILD"
fi
ldd "$BUILD/kernels/libcoordtok-cuda.so" > "$RES/ldd.txt" 2>&1
if grep -q "not found" "$RES/ldd.txt"; then
  log "WARNING: the module has unresolved libraries (ldd.txt): CUDA 13 runtime/cuBLAS missing?"
fi

export COORDTOK_MODULE_DIR=$ROOT/$BUILD/kernels
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
CLI=$ROOT/$BUILD/src/cli/coordtok
CASES="$ROOT/tests/data/golden/tiny-full $ROOT/tests/data/golden/tiny-partial $ROOT/tests/data/golden/small-full"

# run NAME TIMEOUT CMD...: output to NAME.txt, status to the summary
run () {
  local name=$1 t=$2
  shift 2
  local t0=$(date +%s)
  timeout "$t" "$@" > "$RES/$name.txt" 2>&1
  local rc=$?
  local verdict=FAIL
  [ $rc = 0 ] && verdict=ok
  [ $rc = 77 ] && verdict=SKIP
  [ $rc = 124 ] && verdict=TIMEOUT
  log "$(printf '%-22s %-7s rc=%-3s %4ss  %s' "$name" "$verdict" "$rc" $(( $(date +%s) - t0 )) "$name.txt")"
  return 0
}

# ---- checks ------------------------------------------------------------------
if [ "${BENCH:-1}" != only ]; then
run kernel-check 180 "$BUILD/kernels/kernel-check"
run golden-fp32 300 "$CLI" golden --device cuda --precision fp32 --tolerance 1e-3 $CASES
run test-cuda 400 "$BUILD/tests/cuda/test-cuda" "$CLI" $CASES
# informative: reduced precisions against the golden data, loose bounds
run golden-tf32 300 "$CLI" golden --device cuda --precision tf32 --tolerance 1e-2 $CASES
run golden-bf16 300 "$CLI" golden --device cuda --precision bf16 --tolerance 5e-2 $CASES
# a small real-size run: errors that only show at CoordTok-L sizes
run bench-ours-bf16 300 "$CLI" bench --random-l --device cuda --precision bf16 --slice 4096 --runs 2 --json
run bench-ours-fp32 300 "$CLI" bench --random-l --device cuda --precision fp32 --slice 4096 --runs 2 --json

if [ "${SANITIZER:-1}" = 1 ] && command -v compute-sanitizer > /dev/null; then
  run sanitize-kernels 300 env KERNEL_CHECK_NO_TIMING=1 compute-sanitizer --tool memcheck \
    --error-exitcode 3 "$BUILD/kernels/kernel-check"
  run sanitize-golden 300 compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$CLI" golden --device cuda --precision bf16 --tolerance 5e-2 "$ROOT/tests/data/golden/tiny-partial"
  run racecheck-kernels 300 env KERNEL_CHECK_NO_TIMING=1 compute-sanitizer --tool racecheck \
    --error-exitcode 3 "$BUILD/kernels/kernel-check"
else
  log "compute-sanitizer: skipped"
fi
fi

# ---- benchmark -----------------------------------------------------------------
if [ "${BENCH:-1}" != 0 ]; then
  run bench 900 python3 "$ROOT/kernels/bench/bench_cuda_vs_torch.py" --cli "$CLI" \
    --runs 2 --warmup 1 --sdpa --out "$RES/bench.json" ${BENCH_ARGS:-}
fi
log "done"
