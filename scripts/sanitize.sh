#!/usr/bin/env bash
# CI stage 2: build the unit tests and examples with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DMMCV_OPS_SANITIZE=ON) in a second build directory and run them; fail on any sanitizer report.
# Debian's LibTorch is not instrumented: what that needs (and nothing more) is in
# scripts/sanitizers/ (see docs/design.md, "Sanitizers").
# Usage: bash scripts/sanitize.sh [extra ctest args]
# Environment: MMCV_OPS_SANITIZE_BUILD_DIR (default <repo>/build-sanitize), plus common.sh's.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BUILD_DIR="${MMCV_OPS_SANITIZE_BUILD_DIR:-$MMCV_OPS_ROOT/build-sanitize}"
BUILD_TYPE="${MMCV_OPS_SANITIZE_BUILD_TYPE:-RelWithDebInfo}"
SUPP="$MMCV_OPS_ROOT/scripts/sanitizers"

ensure_tools tests
find_torch
# Benchmarks are not sanitized (timing only); package tests build uninstrumented consumer projects.
configure -DMMCV_OPS_SANITIZE=ON -DMMCV_OPS_BUILD_TESTS=ON -DMMCV_OPS_BUILD_EXAMPLES=ON -DMMCV_OPS_BUILD_BENCHMARKS=OFF
build

# halt_on_error + abort: the first report ends the test with a non-zero status.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$SUPP/ubsan.supp:${UBSAN_OPTIONS:-}"
# Smaller stress loops under the sanitizers (each call is ~10x slower); the Release run does the full count.
export MMCV_OPS_STRESS_ITERS="${MMCV_OPS_STRESS_ITERS:-10}"
export MMCV_OPS_PROPERTY_CASES="${MMCV_OPS_PROPERTY_CASES:-25}"

cd "$BUILD_DIR"
ctest_log="$BUILD_DIR/sanitize-ctest.log"
status=0
ctest --output-on-failure --no-tests=error --timeout 1200 -LE package --output-log "$ctest_log" "$@" || status=$?
# A report that did not change an exit status (e.g. printed by a child process) still fails CI.
if grep -E -n "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer" "$ctest_log"; then
  log "sanitizer report(s) found in $ctest_log"
  status=1
fi
exit $status
