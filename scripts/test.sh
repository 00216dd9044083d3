#!/usr/bin/env bash
# Quick start 2/2: install what is missing, build and run the whole test suite (unit tests on CPU,
# and on CUDA when the LibTorch found has it; examples; package consumer tests).
# Usage: bash scripts/test.sh [extra ctest args]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_tools tests
find_torch
configure -DMMCV_OPS_BUILD_TESTS=ON -DMMCV_OPS_BUILD_EXAMPLES=ON -DMMCV_OPS_BUILD_BENCHMARKS=ON
build
cd "$BUILD_DIR"
ctest --output-on-failure --no-tests=error "$@"
