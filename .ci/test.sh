#!/bin/bash
# The test command (README.md): builds twice, a release build whose suite is
# the main check, and an AddressSanitizer build of the same suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

meson setup build-ci --buildtype=release -Dtests=enabled --wipe >/dev/null 2>&1 || \
  meson setup build-ci --buildtype=release -Dtests=enabled
ninja -C build-ci
meson test -C build-ci --print-errorlogs --num-processes 1 --no-suite slow

# Same suite under ASan (+ LeakSanitizer) and UBSan, debug-optimised: the
# hostile-input reproducers and the fuzz corpus replay run here too.
meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
  -Dtests=enabled --wipe >/dev/null 2>&1 || \
  meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled
ninja -C build-asan
meson test -C build-asan --print-errorlogs --num-processes 1 --no-suite slow
