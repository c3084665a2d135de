#!/bin/bash
# The figures of docs/performance.md "Portable CPU" in one run (issue #14):
# the machine, the sgemm ceiling, the default model's whole window with
# every CPU kernel set of the portable build and with a -Dnative build, and
# the same with one busy process beside it (fixed two threads, one thread,
# adaptive).  Run on a quiet machine:
#
#   bash tests/bench/portable-cpu.sh [PORTABLE_BUILD] [NATIVE_BUILD]
#
# (defaults build, build-native: meson setup build-native -Dnative=true).
set -uo pipefail
cd "$(dirname "$0")/../.."
P=${1:-build}/src/cli/coordtok
N=${2:-build-native}/src/cli/coordtok
RUNS=${RUNS:-5}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "# $(date -u '+%Y-%m-%d %H:%M') UTC, $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "# flags: $(grep -o -w -E 'avx2|fma|avx512f|avx512dq|avx512bw|avx512vl|avx512_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
# the AVX2 rows run OpenBLAS's Haswell kernels, as an AVX2-only machine
# would; the others get OpenBLAS's own choice (or the caller's
# OPENBLAS_CORETYPE)
USER_CORE=${OPENBLAS_CORETYPE:-}
$P bench --gemm 2048 --runs 5
OPENBLAS_CORETYPE=Haswell $P bench --gemm 2048 --runs 5
window () {  # label, then the command
  local label=$1; shift
  local out; out=$("$@" --runs "$RUNS" 2>&1)
  printf '%-44s %s | %s\n' "$label" "$(echo "$out" | grep -o '^window (enc.*')" \
    "$(echo "$out" | grep -E '^cpu kernels' | tr -s ' ')"
}
for k in avx512 avx2 generic; do
  core=$USER_CORE; [ $k = avx2 ] && core=Haswell
  COORDTOK_CPU=$k OPENBLAS_CORETYPE=$core window "portable build, kernels $k" $P bench
done
[ -x "$N" ] && window "native build (-march=native)" $N bench
# one busy neighbour (a spinning process, as another program or element)
busy () { while :; do :; done; }
busy & B=$!
sleep 1
for t in 0 1 -1; do
  window "1 busy process, --threads $t" $P bench --threads $t
done
kill $B
