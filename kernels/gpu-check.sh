#!/usr/bin/env bash
# kernels/gpu-check.sh - every GPU check of the CUDA backend in one call, for
# a session that has a GPU (see docs/cuda.md).  Writes one file per step and
# a summary.txt into RESULTS (default: $OUT if set, else ./gpu-results).
#
#   kernels/gpu-check.sh [RESULTS]
#   kernels/gpu-check.sh --bundle-libs      (on the BUILD machine, see below)
#
# Environment:
#   BUILD=build-cuda   build dir; reused when it already holds the module and
#                      the test programs (e.g. built elsewhere and carried),
#                      otherwise configured and built here (needs meson, ninja,
#                      nvcc, GLib, json-glib, OpenBLAS)
#   REBUILD=1          force a fresh build into $BUILD
#   GPU_ARCHS=90       SM list for a fresh build (default: the option's 80;90)
#   TOTAL_S=540        time budget of the whole script in seconds: every step's
#                      timeout is cut to what is left, steps that no longer fit
#                      are reported NO-TIME (the summary is always complete)
#   BENCH=0            skip the benchmark; BENCH=only: just the benchmark
#                      (the whole script can pass 10 minutes: split it in
#                      two calls, BENCH=0 then BENCH=only)
#   SANITIZER=0        skip compute-sanitizer
#   BENCH_ARGS=...     extra arguments for bench_cuda_vs_torch.py
#
# A build carried from another machine links that machine's libraries:
# libcudart/libcublas/libcublasLt .so.13 (rpath: its CUDA toolkit), GLib,
# json-glib, OpenBLAS (+ libgfortran, libgomp), and was compiled with
# -march=native unless configured -Dnative=false.  The script lists every
# unresolved library per program (ldd.txt and the summary), looks for the
# missing ones in the CUDA toolkit folders, Python site-packages (PyTorch's
# nvidia-* wheels) and $BUILD/bundled-libs (made by --bundle-libs on the
# build machine), links what it finds into a private folder on
# LD_LIBRARY_PATH, and reports a step whose program still cannot load as
# NOLIBS instead of running it.  kernel-check links the CUDA runtime
# statically and needs only the driver.
#
# Steps, cheapest and most telling first: environment, kernel checks
# against a CPU reference, golden cases in fp32 (tolerance 1e-3, spec 7),
# tests/cuda (tf32/bf16 PSNR, CUDA vs CPU at head dim 64, shared weights),
# golden cases in tf32 and bf16 (informative, loose tolerances),
# compute-sanitizer memcheck of the kernels and of one golden case,
# CoordTok-L-sized runs, racecheck, then the benchmark against PyTorch.
# Never stops at the first failure.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build-cuda}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PATH=$PATH:/usr/local/cuda/bin
T_START=$(date +%s)
TOTAL_S=${TOTAL_S:-540}

PROGS="kernels/kernel-check kernels/libcoordtok-cuda.so src/cli/coordtok tests/cuda/test-cuda"

# ---- --bundle-libs: run on the build machine before carrying $BUILD --------
if [ "${1:-}" = --bundle-libs ]; then
  B=$BUILD/bundled-libs
  rm -rf "$B"
  mkdir -p "$B"
  # everything the programs load except the C library family, the C++
  # runtime (any machine with PyTorch has one) and CUDA (the driver's
  # libcuda must come from the GPU machine; cuBLAS is far too large)
  for p in $PROGS src/libcoordtok.so.0; do
    ldd "$BUILD/$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
  done | sort -u | while read -r so path; do
    case $so in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*) ;;
      libcuda.so*|libcudart*|libcublas*|libnvidia*) ;;
      libcoordtok*) ;;
      *) cp -L "$path" "$B/$so" ;;
    esac
  done
  grep -m1 '^flags' /proc/cpuinfo > "$BUILD/build-host.txt" 2>/dev/null
  ldd --version 2>&1 | head -1 >> "$BUILD/build-host.txt"
  echo "bundled into $B ($(du -sh "$B" | cut -f1)):"
  ls "$B"
  echo "build host: $(tail -1 "$BUILD/build-host.txt"); carried build + bundle: $(du -sh "$BUILD" | cut -f1)"
  exit 0
fi

RES=${1:-${OUT:-$ROOT/gpu-results}}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)
SUMMARY=$RES/summary.txt
: > "$SUMMARY"
log () { echo "$*" | tee -a "$SUMMARY"; }
left () { echo $(( TOTAL_S - ($(date +%s) - T_START) )); }

{
  date; uname -a; echo
  nvidia-smi 2>&1 || echo "nvidia-smi: not found"
  echo; nvcc --version 2>&1 || echo "nvcc: not found"
  echo; git -C "$ROOT" log --oneline -1 2>&1
  echo; ldd --version 2>&1 | head -1
  echo; grep -m1 'model name' /proc/cpuinfo
} > "$RES/env.txt" 2>&1
log "gpu-check in $ROOT, build $BUILD, results in $RES (budget ${TOTAL_S}s)"
log "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# ---- build -----------------------------------------------------------------
have=1
for p in $PROGS; do [ -e "$BUILD/$p" ] || have=0; done
if [ "$have" = 0 ] || [ "${REBUILD:-0}" = 1 ]; then
  missing_tools=
  for t in meson ninja nvcc pkg-config; do
    command -v $t > /dev/null || missing_tools="$missing_tools $t"
  done
  for m in glib-2.0 gobject-2.0 gmodule-2.0 gio-2.0 json-glib-1.0; do
    pkg-config --exists $m 2> /dev/null || missing_tools="$missing_tools $m(dev)"
  done
  [ -n "$missing_tools" ] && log "WARNING: no usable build in $BUILD and missing for a build:$missing_tools"
  log "building $BUILD"
  {
    if [ -d "$BUILD" ] && [ "${REBUILD:-0}" = 1 ]; then rm -rf "$BUILD"; fi
    meson setup "$BUILD" -Dcuda=enabled -Dplugin=disabled ${GPU_ARCHS:+-Dgpu_archs=$GPU_ARCHS} &&
      ninja -C "$BUILD" -j"$(nproc)"
  } > "$RES/build.txt" 2>&1
  rc=$?
  log "  build: rc=$rc (build.txt)"
  [ $rc = 0 ] || tail -5 "$RES/build.txt" | sed 's/^/    /' | tee -a "$SUMMARY"
  # kernel-check alone needs only nvcc: try it when the full build failed
  if [ ! -e "$BUILD/kernels/kernel-check" ] && command -v nvcc > /dev/null; then
    a1=${GPU_ARCHS:-90}; a1=${a1%%[;,]*}
    mkdir -p "$BUILD/kernels"
    ( cd kernels && nvcc -O3 -std=c++17 --expt-relaxed-constexpr -I. -I../src \
        -gencode arch=compute_$a1,code=sm_$a1 -cudart static \
        -o "$BUILD/kernels/kernel-check" dev/kernel-check.cu layernorm.cu gelu-bias.cu \
        sampling.cu patch.cu attention.cu ) >> "$RES/build.txt" 2>&1 &&
      log "  kernel-check built alone with nvcc"
  fi
else
  log "reusing the build in $BUILD"
fi

# ---- run-time libraries --------------------------------------------------------
# Which CUDA the build needs, which the driver offers.
need_cuda=$(grep -aom1 'libcudart\.so\.[0-9]*' "$BUILD/kernels/libcoordtok-cuda.so" 2>/dev/null | sed 's/.*\.so\.//')
drv_cuda=$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1 | sed 's/.*: //')
log "CUDA: the build needs runtime ${need_cuda:-?}.x, the driver supports up to ${drv_cuda:-? (no nvidia-smi)}"
if [ -n "$need_cuda" ] && [ -n "$drv_cuda" ] && [ "${drv_cuda%%.*}" -lt "$need_cuda" ]; then
  log "ERROR: driver too old for a CUDA $need_cuda build (CUDA 13 needs driver >= 580):"
  log "       every program will report cudaErrorInsufficientDriver (shown as SKIP)"
fi
if [ -e "$BUILD/build-host.txt" ]; then
  if grep -qw avx512f "$BUILD/build-host.txt" && ! grep -qw avx512f /proc/cpuinfo; then
    log "WARNING: built on an AVX-512 host (-march=native?), this CPU has no AVX-512: CPU code may die with SIGILL"
  fi
elif grep -q '"name": "native", "value": true' "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null ||
     grep -q -- '-march=native' "$BUILD/build.ninja" 2>/dev/null; then
  log "note: $BUILD was compiled with -march=native; if it was built on another CPU, SIGILL is possible"
fi

# Unresolved libraries: look for them, link what is found into $SHIM.
SHIM=$(mktemp -d /tmp/gpu-check-libs.XXXXXX)
mkdir -p "$SHIM"
export LD_LIBRARY_PATH=$SHIM${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
search_dirs () {
  ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/*/lib /usr/local/cuda-*/lib64 \
    /usr/local/cuda-*/targets/*/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu \
    /usr/lib/x86_64-linux-gnu/openblas* /usr/lib64 2>/dev/null
  python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null
  [ -d "$BUILD/bundled-libs" ] && echo "$BUILD/bundled-libs"
}
unresolved () {   # the sonames ldd cannot find for all programs
  for p in $PROGS; do
    [ -e "$BUILD/$p" ] && ldd "$BUILD/$p" 2>&1 | awk '/not found/ { print $1 }'
  done | sort -u
}
for pass in 1 2 3 4; do
  miss=$(unresolved)
  [ -z "$miss" ] && break
  found_any=0
  for so in $miss; do
    [ -e "$SHIM/$so" ] && continue
    hit=$(for d in $(search_dirs); do find "$d" -maxdepth 6 -name "$so" 2>/dev/null | head -1; done | head -1)
    if [ -n "$hit" ]; then
      ln -sf "$hit" "$SHIM/$so"
      found_any=1
      log "  found $so: $hit"
    fi
  done
  [ $found_any = 0 ] && break
done
{
  for p in $PROGS; do
    echo "== $p"
    if [ -e "$BUILD/$p" ]; then ldd "$BUILD/$p" 2>&1; else echo "(missing)"; fi
  done
} > "$RES/ldd.txt"
declare -A NOLIBS
n_nolibs=0
for p in $PROGS; do
  if [ ! -e "$BUILD/$p" ]; then
    NOLIBS[$p]="program not built"
    n_nolibs=$((n_nolibs + 1))
    log "MISSING: $p"
    continue
  fi
  m=$(ldd "$BUILD/$p" 2>&1 | awk '/not found/ { print $1 }' | sort -u | tr '\n' ' ')
  if [ -n "$m" ]; then
    NOLIBS[$p]=$m
    n_nolibs=$((n_nolibs + 1))
    log "UNRESOLVED for $p: $m"
  fi
done
# the CLI and test-cuda dlopen the module: it must load too
if [ -n "${NOLIBS[kernels/libcoordtok-cuda.so]:-}" ]; then
  for p in src/cli/coordtok tests/cuda/test-cuda; do
    NOLIBS[$p]="${NOLIBS[$p]:-}(module: ${NOLIBS[kernels/libcoordtok-cuda.so]})"
  done
fi
if [ $n_nolibs -gt 0 ]; then
  log "  -> the steps of those programs are reported NOLIBS (ldd.txt).  Fix: install the"
  log "     packages (CUDA 13 runtime + cuBLAS, libglib2.0-0, libjson-glib-1.0-0,"
  log "     libopenblas0-openmp), or carry $BUILD after 'kernels/gpu-check.sh --bundle-libs'"
fi

export COORDTOK_MODULE_DIR=$BUILD/kernels
export COORDTOK_MODEL_DIR=$ROOT/src/models
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
CLI=$BUILD/src/cli/coordtok
CASES="$ROOT/tests/data/golden/tiny-full $ROOT/tests/data/golden/tiny-partial $ROOT/tests/data/golden/small-full"

# run NAME TIMEOUT PROG CMD...: output to NAME.txt, status to the summary.
# PROG is the program (relative to $BUILD) whose libraries must resolve, or -.
run () {
  local name=$1 t=$2 prog=$3
  shift 3
  if [ "$prog" != - ] && [ -n "${NOLIBS[$prog]:-}" ]; then
    log "$(printf '%-22s %-7s %s' "$name" NOLIBS "${NOLIBS[$prog]}")"
    return 0
  fi
  local l=$(( $(left) - 5 ))
  if [ $l -lt 20 ]; then
    log "$(printf '%-22s %-7s (budget TOTAL_S=%s spent)' "$name" NO-TIME "$TOTAL_S")"
    return 0
  fi
  [ "$t" -gt "$l" ] && t=$l
  local t0=$(date +%s)
  timeout -k 5 "$t" "$@" > "$RES/$name.txt" 2>&1
  local rc=$?
  local verdict=FAIL
  [ $rc = 0 ] && verdict=ok
  [ $rc = 77 ] && verdict=SKIP
  [ $rc = 124 ] || [ $rc = 137 ] && verdict=TIMEOUT
  [ $rc = 127 ] && verdict=NOEXEC
  [ $rc = 132 ] && verdict=SIGILL
  log "$(printf '%-22s %-7s rc=%-3s %4ss  %s' "$name" "$verdict" "$rc" $(( $(date +%s) - t0 )) "$name.txt")"
  # the first lines that explain a failure, into the summary
  if [ $verdict != ok ]; then
    grep -m3 -E 'FAIL|SKIP|rror|not found|nvalid' "$RES/$name.txt" | cut -c1-200 | sed 's/^/    /' | tee -a "$SUMMARY"
  fi
  return 0
}

# ---- checks ------------------------------------------------------------------
if [ "${BENCH:-1}" != only ]; then
run kernel-check 180 kernels/kernel-check "$BUILD/kernels/kernel-check"
run golden-fp32 240 src/cli/coordtok "$CLI" golden --device cuda --precision fp32 --tolerance 1e-3 $CASES
run test-cuda 300 tests/cuda/test-cuda "$BUILD/tests/cuda/test-cuda" "$CLI" $CASES
# informative: reduced precisions against the golden data, loose bounds
run golden-tf32 120 src/cli/coordtok "$CLI" golden --device cuda --precision tf32 --tolerance 1e-2 $CASES
run golden-bf16 120 src/cli/coordtok "$CLI" golden --device cuda --precision bf16 --tolerance 5e-2 $CASES

SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ "${SANITIZER:-1}" = 1 ] && [ -n "$SAN" ]; then
  run sanitize-kernels 240 kernels/kernel-check env KERNEL_CHECK_NO_TIMING=1 "$SAN" --tool memcheck \
    --error-exitcode 3 "$BUILD/kernels/kernel-check"
  run sanitize-golden 180 src/cli/coordtok "$SAN" --tool memcheck --error-exitcode 3 \
    "$CLI" golden --device cuda --precision bf16 --tolerance 5e-2 "$ROOT/tests/data/golden/tiny-partial"
else
  log "compute-sanitizer: skipped (${SAN:-not found})"
fi
# a real-size run: errors that only show at CoordTok-L sizes
run bench-ours-bf16 240 src/cli/coordtok "$CLI" bench --random-l --device cuda --precision bf16 --slice 4096 --runs 2 --json
run bench-ours-fp32 240 src/cli/coordtok "$CLI" bench --random-l --device cuda --precision fp32 --slice 4096 --runs 2 --json
if [ "${SANITIZER:-1}" = 1 ] && [ -n "$SAN" ]; then
  run racecheck-kernels 240 kernels/kernel-check env KERNEL_CHECK_NO_TIMING=1 "$SAN" --tool racecheck \
    --error-exitcode 3 "$BUILD/kernels/kernel-check"
fi
fi

# ---- benchmark -----------------------------------------------------------------
if [ "${BENCH:-1}" != 0 ]; then
  run bench 900 src/cli/coordtok python3 "$ROOT/kernels/bench/bench_cuda_vs_torch.py" --cli "$CLI" \
    --runs 2 --warmup 1 --sdpa --out "$RES/bench.json" ${BENCH_ARGS:-}
fi
log "done in $(( $(date +%s) - T_START ))s"
