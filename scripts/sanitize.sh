#!/usr/bin/env bash
# CI stage 2: build the unit tests and examples with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DMMCV_OPS_SANITIZE=ON) in a second build directory and run them; fail on any sanitizer report.
# Debian's LibTorch is not instrumented: what that needs (and nothing more) is in
# scripts/sanitizers/ (see docs/design.md, "Sanitizers").
# Usage: bash scripts/sanitize.sh [extra ctest args]
# Environment: MMCV_OPS_SANITIZE_BUILD_DIR (default <repo>/build-sanitize),
# MMCV_OPS_SANITIZE_FLAGS (default "-O1 -g1 -DNDEBUG": RelWithDebInfo's flags for this build;
# -O1 keeps every ASan/UBSan check and file:line stacks, and needs less than half the compile
# CPU of -O2 -g: 25 vs 58 s for tests/ops/test_bbox.cpp),
# plus common.sh's. The reduced reliability profile below can be overridden the same way.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BUILD_DIR="${MMCV_OPS_SANITIZE_BUILD_DIR:-$MMCV_OPS_ROOT/build-sanitize}"
BUILD_TYPE="${MMCV_OPS_SANITIZE_BUILD_TYPE:-RelWithDebInfo}"
SAN_FLAGS="${MMCV_OPS_SANITIZE_FLAGS:--O1 -g1 -DNDEBUG}"
SUPP="$MMCV_OPS_ROOT/scripts/sanitizers"

ensure_tools tests
find_torch
# Benchmarks are not sanitized (timing only); package tests build uninstrumented consumer projects;
# examples run in the Release step only (they call ops the unit tests already run here).
configure -DMMCV_OPS_SANITIZE=ON -DMMCV_OPS_BUILD_TESTS=ON -DMMCV_OPS_BUILD_EXAMPLES=OFF -DMMCV_OPS_BUILD_BENCHMARKS=OFF \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$SAN_FLAGS"
build

# halt_on_error + abort: the first report ends the test with a non-zero status.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$SUPP/ubsan.supp:${UBSAN_OPTIONS:-}"
# The reduced reliability profile (each call is ~10x slower here): every op spec and every suite
# (concurrency, properties, bad inputs, NaN policy, fuzz) still runs, with fewer iterations:
# 8 threads x 4 calls, 10% of the property cases, 60 s of fuzzing. Unit tests run in full.
# The Release step (scripts/test.sh) runs the full counts.
export MMCV_OPS_STRESS_ITERS="${MMCV_OPS_STRESS_ITERS:-4}"
export MMCV_OPS_PROPERTY_CASES="${MMCV_OPS_PROPERTY_CASES:-10}"
export MMCV_OPS_FUZZ_SECONDS="${MMCV_OPS_FUZZ_SECONDS:-60}"

cd "$BUILD_DIR"
ctest_log="$BUILD_DIR/sanitize-ctest.log"
status=0
t0=$SECONDS
ctest --output-on-failure --no-tests=error -j "$(ctest_jobs)" --timeout 1500 -LE package --output-log "$ctest_log" "$@" || status=$?
log "ctest done in $((SECONDS - t0)) s"
# A report that did not change an exit status (e.g. printed by a child process) still fails CI.
if grep -E -n "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer" "$ctest_log"; then
  log "sanitizer report(s) found in $ctest_log"
  status=1
fi
exit $status
