#!/usr/bin/env bash
# Run the reliability fuzz driver (tests/reliability/fuzz.cpp, docs/reliability.md "Fuzzing") for
# longer than CI does: every op spec, a total of SECONDS split evenly, a random seed unless one is
# given. Builds test_reliability first if needed (same build directory as scripts/test.sh).
# Usage: bash scripts/fuzz.sh [SECONDS=300] [SEED]
# A failure prints its seed, case and a one-line reproducer (MMCV_OPS_FUZZ_SEED=... MMCV_OPS_FUZZ_CASE=...).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SECONDS_TOTAL="${1:-300}"
SEED="${2:-${MMCV_OPS_FUZZ_SEED:-$(( (RANDOM << 15) ^ RANDOM ^ $$ ))}}"
case "$SECONDS_TOTAL" in '' | *[!0-9]*) die "usage: scripts/fuzz.sh [SECONDS] [SEED] (SECONDS: a whole number)" ;; esac
exe="$BUILD_DIR/tests/reliability/test_reliability"
if ! grep -q '^MMCV_OPS_BUILD_TESTS:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  ensure_tools tests
  find_torch
  configure -DMMCV_OPS_BUILD_TESTS=ON
fi
build --target test_reliability
log "fuzzing every op spec for ${SECONDS_TOTAL} s in total, seed ${SEED}"
MMCV_OPS_FUZZ_SECONDS="$SECONDS_TOTAL" MMCV_OPS_FUZZ_SEED="$SEED" \
  "$exe" --gtest_color=no "--gtest_filter=ops/fuzz.*"
