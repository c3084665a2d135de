#!/bin/bash
# Fuzzes every libFuzzer harness of tests/fuzz for a given time each:
#
#   bash tests/fuzz/run-fuzzers.sh [SECONDS_PER_HARNESS] [HARNESS...]
#
# (default: 60 s each; harnesses: safetensors checkpoint tokens parse y4m).
# Sets up build-fuzz/ (clang, ASan + UBSan, coverage, -Dfuzzing=true),
# starts from the committed seed corpus (tests/fuzz/corpus/<name>, copied to
# build-fuzz/fuzz-corpus/<name> so the committed one stays small), and
# leaves a log per harness (build-fuzz/fuzz-<name>.log: coverage, exec/s,
# the final stats) and any crash, leak or timeout input under
# build-fuzz/fuzz-artifacts/<name>/.  A finding becomes a regression test by
# copying its input to tests/fuzz/regressions/<name>/.
#
# FUZZ_JOBS=N runs N harnesses at once (default 1: these machines have two
# cores, and a fuzzer beside a benchmark spoils both).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
shift || true
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=(safetensors checkpoint tokens parse y4m)
JOBS=${FUZZ_JOBS:-1}
B=${FUZZ_BUILD:-build-fuzz}     # FUZZ_BUILD=dir: another build tree

if ! command -v clang >/dev/null || \
    ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends clang libclang-rt-dev libomp-dev
fi

if [ ! -f $B/build.ninja ]; then
  CC=clang meson setup $B --buildtype=debugoptimized -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled -Dnative=false \
    -Dtests=enabled
fi
# the parse harness loads the (instrumented) plugin
ninja -j2 -C $B plugin/libgstcoordtok.so \
  $(for h in "${HARNESSES[@]}"; do echo tests/fuzz/fuzz-$h; done)

export GST_PLUGIN_PATH_1_0=$PWD/$B/plugin GST_PLUGIN_SYSTEM_PATH_1_0= \
  GST_REGISTRY_FORK=no GST_REGISTRY=$PWD/$B/registry-fuzz.bin \
  G_SLICE=always-malloc OMP_NUM_THREADS=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:suppressions=$PWD/tests/plugin/lsan-gst.supp

run_one () {
  local h=$1
  local work=$B/fuzz-corpus/$h art=$B/fuzz-artifacts/$h/
  mkdir -p "$work" "$art"
  cp -n tests/fuzz/corpus/$h/* "$work"/ 2>/dev/null || true
  echo "fuzzing $h for ${SECONDS_EACH}s (log: $B/fuzz-$h.log)"
  # -rss_limit_mb: a single input that needs more than 2 GiB is a finding
  $B/tests/fuzz/fuzz-$h -max_total_time="$SECONDS_EACH" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$art" \
    "$work" > $B/fuzz-$h.log 2>&1 || \
    echo "fuzz-$h stopped with a finding: see $B/fuzz-$h.log and $art"
  grep -E "^#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" \
    $B/fuzz-$h.log | sed "s/^/  $h: /" || true
}

running=0
for h in "${HARNESSES[@]}"; do
  run_one "$h" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait
