#!/usr/bin/env bash
# One-command CUDA check: configure against python3's PyTorch (pip's CUDA wheel:
# torch.utils.cmake_prefix_path) or, without one, the LibTorch common.sh finds; build everything
# (tests, examples, benchmarks, the device report, every header with -Werror); run the whole
# test suite (the CUDA instances of every TEST_P are active when the LibTorch has CUDA and a GPU is
# visible); run the device-aware benchmarks on CUDA; print one table: op, CPU vs CUDA agreement,
# CUDA time, peer (torchvision's CUDA kernels through the dispatcher) time.
#
# Usage: bash scripts/cuda_check.sh [all|build|run]      (default: all = build then run)
#   build  dependencies (googletest / Google Benchmark from source when the system's cannot be
#          used with this LibTorch's C++ ABI), configure, build, header check
#   run    ctest, benchmarks, device report, summary (needs a previous build)
# Environment:
#   PYTHON                 interpreter with torch (default python3)
#   MMCV_OPS_CUDA_BUILD_DIR build directory (default <repo>/build-cuda)
#   MMCV_OPS_DEPS_SRC      directory with googletest/ and benchmark/ sources (default
#                          <repo>/build-deps/src, then /usr/src/googletest)
#   OUT                    where logs, JSON and the table are written (default <build>/cuda_check)
#   MMCV_OPS_JOBS          build parallelism (default nproc)
#   MMCV_OPS_BENCH_MIN_TIME seconds per benchmark on CUDA (default 0.1)
#   MMCV_OPS_CTEST_ARGS    extra ctest arguments (e.g. "-R test_nms" to run a subset)
# Exit status: 0 when everything built and passed (on a machine without CUDA: the CPU part).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PHASE="${1:-all}"
PY="${PYTHON:-python3}"
BUILD_DIR="${MMCV_OPS_CUDA_BUILD_DIR:-$ROOT/build-cuda}"
OUT_DIR="${OUT:-$BUILD_DIR/cuda_check}"
JOBS="${MMCV_OPS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
mkdir -p "$BUILD_DIR" "$OUT_DIR"
STATE="$BUILD_DIR/cuda_check.env"

say() { printf '[cuda_check] %s\n' "$*" >&2; }
die() { printf '[cuda_check] error: %s\n' "$*" >&2; exit 1; }

case "$PHASE" in all | build | run) ;; *) die "usage: $0 [all|build|run]" ;; esac

# ---------------------------------------------------------------------------------------------
# Which LibTorch
# ---------------------------------------------------------------------------------------------
probe_torch() {
  "$PY" - <<'PYEOF' 2>/dev/null
import glob, os, shlex
try:
    import torch, torch.utils
except Exception:
    print("TORCH_PY=0"); raise SystemExit
avail = bool(torch.cuda.is_available())
vals = dict(TORCH_PY=1, TORCH_VERSION=torch.__version__, TORCH_CUDA=torch.version.cuda or "",
            TORCH_CUDA_AVAILABLE=int(avail), TORCH_PREFIX=torch.utils.cmake_prefix_path,
            TORCH_ROOT=os.path.dirname(torch.__file__),
            TORCH_ABI=int(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", 1)),
            GPU_NAME=torch.cuda.get_device_name(0) if avail else "")
try:
    import torchvision
    libs = glob.glob(os.path.join(os.path.dirname(torchvision.__file__), "_C*.so"))
    vals["TV_LIB"] = libs[0] if libs else ""
    vals["TV_VERSION"] = torchvision.__version__
except Exception:
    vals["TV_LIB"] = ""; vals["TV_VERSION"] = ""
import sysconfig
libdir, ldlib = sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("LDLIBRARY") or ""
p = os.path.join(libdir, ldlib)
vals["PY_LIBPYTHON"] = p if (".so" in ldlib and os.path.exists(p)) else ""
for k, v in vals.items():
    print(f"{k}={shlex.quote(str(v))}")
PYEOF
}

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------
build_deps() {
  # googletest and Google Benchmark must be compiled with the LibTorch's C++ ABI. The system's
  # (Debian) use the new ABI; pip's torch before 2.7 uses the old one (_GLIBCXX_USE_CXX11_ABI=0).
  DEPS_PREFIX=""
  local need=0
  [ "${TORCH_ABI:-1}" = "0" ] && need=1
  [ -f /usr/include/gtest/gtest.h ] || need=1
  if [ "$need" = "0" ]; then say "googletest / benchmark: system packages (ABI 1)"; return 0; fi
  local src="${MMCV_OPS_DEPS_SRC:-$ROOT/build-deps/src}"
  local gtest_src="" bench_src=""
  [ -f "$src/googletest/CMakeLists.txt" ] && gtest_src="$src/googletest"
  [ -z "$gtest_src" ] && [ -f /usr/src/googletest/CMakeLists.txt ] && gtest_src=/usr/src/googletest
  [ -f "$src/benchmark/CMakeLists.txt" ] && bench_src="$src/benchmark"
  [ -n "$gtest_src" ] || die "googletest must be built with ABI ${TORCH_ABI} but no source was found: put googletest's source in $src/googletest (or set MMCV_OPS_DEPS_SRC)"
  DEPS_PREFIX="$ROOT/build-deps/abi${TORCH_ABI}/prefix"
  local flags="-D_GLIBCXX_USE_CXX11_ABI=${TORCH_ABI}"
  if [ ! -f "$DEPS_PREFIX/.gtest_done" ]; then
    say "building googletest from $gtest_src (ABI ${TORCH_ABI})"
    cmake -S "$gtest_src" -B "$ROOT/build-deps/abi${TORCH_ABI}/googletest" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_INSTALL_PREFIX="$DEPS_PREFIX" -DBUILD_GMOCK=ON -DINSTALL_GTEST=ON \
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON >"$OUT_DIR/deps.log" 2>&1 &&
      cmake --build "$ROOT/build-deps/abi${TORCH_ABI}/googletest" --parallel "$JOBS" >>"$OUT_DIR/deps.log" 2>&1 &&
      cmake --install "$ROOT/build-deps/abi${TORCH_ABI}/googletest" >>"$OUT_DIR/deps.log" 2>&1 &&
      touch "$DEPS_PREFIX/.gtest_done" || { tail -30 "$OUT_DIR/deps.log"; die "googletest build failed"; }
  fi
  if [ -n "$bench_src" ] && [ ! -f "$DEPS_PREFIX/.benchmark_done" ]; then
    say "building Google Benchmark from $bench_src (ABI ${TORCH_ABI})"
    cmake -S "$bench_src" -B "$ROOT/build-deps/abi${TORCH_ABI}/benchmark" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_INSTALL_PREFIX="$DEPS_PREFIX" -DBENCHMARK_ENABLE_TESTING=OFF \
      -DBENCHMARK_ENABLE_GTEST_TESTS=OFF -DBENCHMARK_ENABLE_WERROR=OFF -DBENCHMARK_ENABLE_INSTALL=ON \
      -DBENCHMARK_INSTALL_DOCS=OFF >>"$OUT_DIR/deps.log" 2>&1 &&
      cmake --build "$ROOT/build-deps/abi${TORCH_ABI}/benchmark" --parallel "$JOBS" >>"$OUT_DIR/deps.log" 2>&1 &&
      cmake --install "$ROOT/build-deps/abi${TORCH_ABI}/benchmark" >>"$OUT_DIR/deps.log" 2>&1 &&
      touch "$DEPS_PREFIX/.benchmark_done" || say "Google Benchmark build failed (benchmarks skipped; see deps.log)"
  elif [ -z "$bench_src" ]; then
    say "no Google Benchmark source in $src/benchmark: benchmarks are skipped (the device report still times every op)"
  fi
}

do_build() {
  local probe
  probe="$(probe_torch)"
  eval "$probe"
  local torch_args=()
  if [ "${TORCH_PY:-0}" = "1" ]; then
    say "PyTorch ${TORCH_VERSION} (CUDA ${TORCH_CUDA:-none}, available: ${TORCH_CUDA_AVAILABLE}) at ${TORCH_ROOT}"
    torch_args=("-DTorch_DIR=${TORCH_PREFIX}/Torch")
  else
    say "python3 has no torch: using the LibTorch common.sh finds (CPU part of the check only)"
    # shellcheck source=scripts/common.sh
    (source "$ROOT/scripts/common.sh"; find_torch; printf '%s\n' "${TORCH_ARGS[@]}") >"$BUILD_DIR/torch_args" ||
      die "no LibTorch found"
    mapfile -t torch_args <"$BUILD_DIR/torch_args"
    TORCH_ABI=1 TORCH_VERSION="$(basename "$(readlink -f /usr/lib/*/libtorch.so 2>/dev/null | head -1)" 2>/dev/null)"
    TORCH_CUDA_AVAILABLE=0
  fi
  build_deps
  local common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DMMCV_OPS_BUILD_TESTS=ON -DMMCV_OPS_BUILD_EXAMPLES=ON
    -DMMCV_OPS_BUILD_BENCHMARKS=ON)
  # A wheel's ABI applies to everything linked with it (googletest and benchmark included).
  [ "${TORCH_PY:-0}" = "1" ] && common+=("-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=${TORCH_ABI}")
  [ -n "${DEPS_PREFIX:-}" ] && common+=("-DCMAKE_PREFIX_PATH=$DEPS_PREFIX")
  TORCH_SHIM=0
  say "configuring $BUILD_DIR"
  if ! cmake -S "$ROOT" -B "$BUILD_DIR" "${common[@]}" "${torch_args[@]}" >"$OUT_DIR/configure.log" 2>&1; then
    if [ "${TORCH_PY:-0}" = "1" ] && grep -qi "cuda" "$OUT_DIR/configure.log"; then
      say "find_package(Torch) failed on the wheel's CUDA requirements (see configure.log): using the wheel's headers and libraries directly"
      rm -f "$BUILD_DIR/CMakeCache.txt"
      TORCH_SHIM=1
      cmake -S "$ROOT" -B "$BUILD_DIR" "${common[@]}" "-DCMAKE_PROJECT_INCLUDE=$ROOT/scripts/cuda_check/torch_wheel.cmake" \
        "-DMMCV_OPS_TORCH_WHEEL_ROOT=$TORCH_ROOT" "-DMMCV_OPS_TORCH_ABI=$TORCH_ABI" \
        >"$OUT_DIR/configure.log" 2>&1 || { tail -40 "$OUT_DIR/configure.log"; die "configure failed"; }
    else
      tail -40 "$OUT_DIR/configure.log"
      die "configure failed"
    fi
  fi
  say "building (-j$JOBS); log: $OUT_DIR/build.log"
  local rc=0
  cmake --build "$BUILD_DIR" --parallel "$JOBS" >"$OUT_DIR/build.log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then grep -E -B2 -A12 "error|FAILED" "$OUT_DIR/build.log" | head -80; die "build failed"; fi
  say "every public header on its own with -Werror (mmcv_ops_header_check)"
  cmake --build "$BUILD_DIR" --target mmcv_ops_header_check --parallel "$JOBS" >"$OUT_DIR/header_check.log" 2>&1 || {
    grep -E -A12 "error" "$OUT_DIR/header_check.log" | head -60
    die "header check failed"
  }
  local warnings
  warnings="$(grep -c "warning:" "$OUT_DIR/build.log" || true)"
  {
    printf '%s\n' "$probe"
    echo "TORCH_SHIM=$TORCH_SHIM"
    echo "TORCH_CUDA_AVAILABLE=${TORCH_CUDA_AVAILABLE:-0}"
    echo "TORCH_VERSION=$(printf %q "${TORCH_VERSION:-unknown}")"
    echo "BUILD_WARNINGS=$warnings"
  } >"$STATE"
  say "build ok ($warnings compiler warnings; see build.log)"
}

# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------
do_run() {
  [ -f "$STATE" ] || die "no build yet: run '$0 build' first"
  # shellcheck disable=SC1090
  source "$STATE"
  local dev=cpu
  [ "${TORCH_CUDA_AVAILABLE:-0}" = "1" ] && dev=cuda
  [ -n "${TV_LIB:-}" ] && export MMCV_OPS_TORCHVISION_LIB="$TV_LIB"
  # torchvision's _C may link libtorch_python: give the peer-loading programs (benchmarks, device
  # report) libpython's symbols; the tests do not load torchvision.
  local peer_preload="${LD_PRELOAD:-}"
  if [ -n "${TV_LIB:-}" ] && [ -n "${PY_LIBPYTHON:-}" ] && [ -f "$PY_LIBPYTHON" ]; then
    peer_preload="${PY_LIBPYTHON}${LD_PRELOAD:+:$LD_PRELOAD}"
  fi
  local status=0

  say "ctest (device: $dev); log: $OUT_DIR/ctest.log"
  rm -rf "$OUT_DIR/gtest" && mkdir -p "$OUT_DIR/gtest"
  local ctest_args=(--output-on-failure --timeout 900 -j 4)
  # Package consumers re-run find_package(Torch), which the wheel cannot satisfy without a toolkit.
  [ "${TORCH_SHIM:-0}" = "1" ] && ctest_args+=(-LE package)
  # shellcheck disable=SC2206
  [ -n "${MMCV_OPS_CTEST_ARGS:-}" ] && ctest_args+=(${MMCV_OPS_CTEST_ARGS})
  (cd "$BUILD_DIR" && GTEST_OUTPUT="xml:$OUT_DIR/gtest/" ctest "${ctest_args[@]}") >"$OUT_DIR/ctest.log" 2>&1 || status=1
  local ctest_summary
  ctest_summary="$(grep -E "tests passed|tests failed" "$OUT_DIR/ctest.log" | tail -1)"
  [ $status -ne 0 ] && grep -E "^\s*[0-9]+ - |Failed|\*\*\*" "$OUT_DIR/ctest.log" | tail -20 >&2
  local gtest_counts
  gtest_counts="$("$PY" - "$OUT_DIR/gtest" <<'PYEOF'
import glob, sys, xml.etree.ElementTree as ET
c = {"cpu": [0, 0, 0], "cuda": [0, 0, 0]}  # passed, skipped, failed
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for tc in ET.parse(f).getroot().iter("testcase"):
        name = tc.get("name", "") + " " + tc.get("value_param", "")
        kind = "cuda" if ("CUDA" in name or "device_agreement" in tc.get("classname", "")) else "cpu"
        if tc.find("failure") is not None: c[kind][2] += 1
        elif tc.get("result") == "skipped" or tc.find("skipped") is not None: c[kind][1] += 1
        else: c[kind][0] += 1
print("CUDA test cases: %d passed, %d skipped, %d failed; other: %d passed, %d skipped, %d failed"
      % tuple(c["cuda"] + c["cpu"]))
PYEOF
)"

  say "benchmarks (device: $dev)"
  local bench_lines=()
  for exe in "$BUILD_DIR"/bench/bench_*; do
    [ -x "$exe" ] || continue
    local stem src
    stem="$(basename "$exe")"
    src="$ROOT/bench/${stem}.cpp"
    if [ "$dev" = "cuda" ] && ! grep -q "common/device.hpp" "$src"; then
      bench_lines+=("$stem: not device-aware yet (bench/common/device.hpp), CPU-only: skipped")
      continue
    fi
    if [ "$dev" = "cpu" ]; then
      # CPU part: check that every bench starts and registers its cases (CPU timings are the
      # owners' docs/performance.md runs; a full CPU pass takes far longer than this check).
      if "$exe" --benchmark_list_tests=true >"$OUT_DIR/${stem}_list.txt" 2>&1; then
        bench_lines+=("$stem: starts, $(wc -l <"$OUT_DIR/${stem}_list.txt") benchmarks registered (not timed without CUDA)")
      else
        bench_lines+=("$stem: FAILED to start (see ${stem}_list.txt)")
        status=1
      fi
      continue
    fi
    # Short runs (the device report below gives the table); each bench capped at 4 minutes.
    local min_time="${MMCV_OPS_BENCH_MIN_TIME:-0.1}"
    if LD_PRELOAD="$peer_preload" MMCV_OPS_BENCH_THREADS="${MMCV_OPS_BENCH_THREADS:-2}" timeout 240 "$exe" --device="$dev" \
      --benchmark_min_time="$min_time" \
      --benchmark_out="$OUT_DIR/${stem}_${dev}.json" --benchmark_out_format=json >"$OUT_DIR/${stem}_${dev}.txt" 2>&1; then
      bench_lines+=("$stem: ok ($OUT_DIR/${stem}_${dev}.txt)")
    else
      bench_lines+=("$stem: FAILED (see ${stem}_${dev}.txt)")
      status=1
    fi
  done
  [ ${#bench_lines[@]} -eq 0 ] && bench_lines+=("no benchmarks built (Google Benchmark missing)")

  say "device report (every reliability spec: agreement + timing)"
  local report_rc=0 report_args=()
  # Without CUDA, a quick pass (small inputs, one run each) shows the report works.
  [ "$dev" = "cpu" ] && report_args=(--smoke)
  LD_PRELOAD="$peer_preload" "$BUILD_DIR/tests/reliability/mmcv_ops_device_report" --device="$dev" "${report_args[@]}" \
    --tsv="$OUT_DIR/device_report.tsv" \
    >"$OUT_DIR/device_report.md" 2>"$OUT_DIR/device_report.err" || report_rc=$?
  [ $report_rc -ne 0 ] && status=1

  {
    echo "# mmcv-ops CUDA check"
    echo
    echo "- LibTorch: ${TORCH_VERSION:-?} (CUDA ${TORCH_CUDA:-none}); GPU: ${GPU_NAME:-none}; torchvision in python3: ${TV_VERSION:-absent (the programs still look for its _C themselves)}"
    echo "- torch target: $([ "${TORCH_SHIM:-0}" = "1" ] && echo "wheel shim (scripts/cuda_check/torch_wheel.cmake)" || echo "find_package(Torch)")"
    echo "- build: ok, ${BUILD_WARNINGS:-?} compiler warnings; every header compiles alone with -Werror"
    echo "- ctest: ${ctest_summary:-no summary (see ctest.log)}"
    echo "- ${gtest_counts:-gtest XML not found}"
    for l in "${bench_lines[@]}"; do echo "- $l"; done
    [ "$dev" = "cpu" ] && echo "- no CUDA device: CUDA columns are the CPU (this is the CPU part of the check)"
    echo
    cat "$OUT_DIR/device_report.md"
  } >"$OUT_DIR/cuda_check.md"
  cat "$OUT_DIR/cuda_check.md"
  [ $report_rc -ne 0 ] && { say "device report:"; tail -5 "$OUT_DIR/device_report.err" >&2; }
  say "files: $OUT_DIR"
  return $status
}

case "$PHASE" in
  build) do_build ;;
  run) do_run ;;
  all) do_build && do_run ;;
esac
