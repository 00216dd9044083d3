#!/usr/bin/env bash
# Quick start 1/2: install what is missing, build the bundled example and run it on its built-in
# sample data. Usage: bash scripts/example.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_tools
find_torch
configure -DMMCV_OPS_BUILD_EXAMPLES=ON
build --target detection
"$BUILD_DIR/examples/detection"
