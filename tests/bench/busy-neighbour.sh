#!/bin/bash
# The default thread count beside a busy process (issue #23): the default
# model's encode, 256- and 4096-query decodes and whole window, quiet and
# beside one spinning process, at the default (the free cores), 2 and 1
# threads, in one run.  Run on an otherwise quiet machine:
#
#   bash tests/bench/busy-neighbour.sh [BUILD]
#
# The last columns say busy / quiet for each thread setting.
set -uo pipefail
cd "$(dirname "$0")/../.."
P=${1:-build}/src/cli/coordtok
RUNS=${RUNS:-3}
echo "# $(date -u '+%Y-%m-%d %H:%M') UTC, $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores," \
  "$($P --version | grep -o "cpu kernels: [a-z0-9]*")"
# ms of one figure of `coordtok bench` ("encode", "decode", "window")
figure () { grep -E "^$1" | grep -oE '[0-9.]+ ms' | head -1 | cut -d' ' -f1; }
measure () {  # prints encode dec256 dec4096 window (ms) at --threads $1
  local a b
  a=$($P bench --device cpu --threads "$1" --queries 256 --runs "$RUNS" 2>&1)
  b=$($P bench --device cpu --threads "$1" --queries 4096 --runs "$RUNS" 2>&1)
  echo "$(echo "$a" | figure encode) $(echo "$a" | figure decode) $(echo "$b" | figure decode)" \
    "$(echo "$a" | figure window)"
}
declare -A quiet busy
for t in 0 2 1; do quiet[$t]=$(measure $t); done
spin () { while :; do :; done; }
spin & B=$!
trap 'kill $B 2>/dev/null' EXIT
sleep 1
for t in 0 2 1; do busy[$t]=$(measure $t); done
kill $B
printf '%-10s %-8s %9s %9s %9s %9s   %s\n' threads machine encode dec256 dec4096 window "busy/quiet"
for t in 0 2 1; do
  read -r qe q2 q4 qw <<<"${quiet[$t]}"
  read -r be b2 b4 bw <<<"${busy[$t]}"
  label=$t; [ "$t" = 0 ] && label="0 default"
  printf '%-10s %-8s %9s %9s %9s %9s\n' "$label" quiet "$qe" "$q2" "$q4" "$qw"
  printf '%-10s %-8s %9s %9s %9s %9s   %s\n' "" busy "$be" "$b2" "$b4" "$bw" \
    "$(awk -v a="$be $b2 $b4 $bw" -v b="$qe $q2 $q4 $qw" 'BEGIN { split(a, x); split(b, y);
       for (i = 1; i <= 4; i++) printf "%.2fx ", x[i] / y[i] }')"
done
