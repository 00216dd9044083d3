#!/usr/bin/env bash
# Quick start 2/2: install what is missing, build and run the whole test suite (unit tests on CPU,
# and on CUDA when the LibTorch found has it; examples; package consumer tests).
# Usage: bash scripts/test.sh [extra ctest args]
# Environment: common.sh's (MMCV_OPS_CTEST_JOBS: tests at once, default one per core), and the
# reliability suite's knobs at their full Release sizes (docs/reliability.md):
# MMCV_OPS_STRESS_ITERS, MMCV_OPS_PROPERTY_CASES, MMCV_OPS_FUZZ_SECONDS (default 30).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_tools tests
find_torch
configure -DMMCV_OPS_BUILD_TESTS=ON -DMMCV_OPS_BUILD_EXAMPLES=ON -DMMCV_OPS_BUILD_BENCHMARKS=ON
build
export MMCV_OPS_FUZZ_SECONDS="${MMCV_OPS_FUZZ_SECONDS:-30}"
cd "$BUILD_DIR"
t0=$SECONDS
ctest --output-on-failure --no-tests=error -j "$(ctest_jobs)" "$@"
log "ctest done in $((SECONDS - t0)) s"
