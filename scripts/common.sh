# shellcheck shell=bash
# Shared by scripts/example.sh and scripts/test.sh: install what is missing (Debian/Ubuntu),
# find LibTorch, configure and build. Idempotent: a second run only rebuilds what changed.
#
# Environment:
#   MMCV_OPS_BUILD_DIR   build directory (default: <repo>/build)
#   MMCV_OPS_BUILD_TYPE  CMake build type (default: Release)
#   Torch_DIR / CMAKE_PREFIX_PATH   an existing LibTorch to use instead of Debian's
#   MMCV_OPS_NO_INSTALL=1           never call apt-get (fail with instructions instead)
#   MMCV_OPS_CMAKE_ARGS  extra arguments for the configure step
#   MMCV_OPS_JOBS        build parallelism (default: nproc)
#   MMCV_OPS_CTEST_JOBS  tests run at once by ctest (default: nproc, at most one per 3 GiB of RAM)
#   MMCV_OPS_CCACHE=0    do not use ccache even when it is installed (it is optional: a cold
#                        cache cost no measurable CPU, a warm one makes rebuilds fast; never required)
set -euo pipefail

MMCV_OPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${MMCV_OPS_BUILD_DIR:-$MMCV_OPS_ROOT/build}"
BUILD_TYPE="${MMCV_OPS_BUILD_TYPE:-Release}"

log() { printf '[mmcv-ops] %s\n' "$*" >&2; }
die() { printf '[mmcv-ops] error: %s\n' "$*" >&2; exit 1; }

# apt-get as root, or through sudo without a password prompt (no stdin in CI).
apt_install() {
  [ "${MMCV_OPS_NO_INSTALL:-0}" = "1" ] && return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
    sudo="sudo -n"
  fi
  log "installing: $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${MMCV_OPS_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq </dev/null || true
    MMCV_OPS_APT_UPDATED=1
  fi
  $sudo apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2
}

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Build tools and test libraries.
ensure_tools() {
  local need=()
  command -v cmake >/dev/null 2>&1 || need+=(cmake)
  command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1 || need+=(g++)
  command -v ninja >/dev/null 2>&1 || need+=(ninja-build)
  if [ "${1:-}" = "tests" ]; then
    [ -f /usr/include/gtest/gtest.h ] || [ -n "${GTEST_ROOT:-}" ] || need+=(libgtest-dev libgmock-dev)
    [ -f /usr/include/gmock/gmock.h ] || [ -n "${GTEST_ROOT:-}" ] || need+=(libgmock-dev)
    [ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    apt_install "${need[@]}" || die "missing build tools: ${need[*]}. Install them (Debian: sudo apt-get install ${need[*]}) and re-run."
  fi
}

# A LibTorch: the user's (Torch_DIR / CMAKE_PREFIX_PATH), a Python torch's, or Debian's libtorch-dev.
TORCH_ARGS=()
find_torch() {
  if [ -n "${Torch_DIR:-}" ]; then
    [ -f "$Torch_DIR/TorchConfig.cmake" ] || die "Torch_DIR=$Torch_DIR has no TorchConfig.cmake"
    TORCH_ARGS=("-DTorch_DIR=$Torch_DIR"); log "LibTorch: Torch_DIR=$Torch_DIR"; return
  fi
  if [ -n "${CMAKE_PREFIX_PATH:-}" ]; then
    local p IFS=':'
    for p in $CMAKE_PREFIX_PATH; do
      if [ -f "$p/Torch/TorchConfig.cmake" ] || [ -f "$p/share/cmake/Torch/TorchConfig.cmake" ] || [ -f "$p/lib/cmake/Torch/TorchConfig.cmake" ]; then
        log "LibTorch: from CMAKE_PREFIX_PATH ($p)"; return
      fi
    done
  fi
  local py
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    local prefix
    prefix="$("$py" -c 'import torch, torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)"
    if [ -n "$prefix" ] && [ -f "$prefix/Torch/TorchConfig.cmake" ]; then
      TORCH_ARGS=("-DTorch_DIR=$prefix/Torch"); log "LibTorch: from $py's torch ($prefix)"; return
    fi
  done
  local cfg
  for cfg in /usr/lib/*/cmake/Torch/TorchConfig.cmake /usr/lib/cmake/Torch/TorchConfig.cmake /usr/share/cmake/Torch/TorchConfig.cmake; do
    if [ -f "$cfg" ]; then TORCH_ARGS=("-DTorch_DIR=$(dirname "$cfg")"); log "LibTorch: $(dirname "$cfg")"; return; fi
  done
  if apt_install libtorch-dev; then
    for cfg in /usr/lib/*/cmake/Torch/TorchConfig.cmake; do
      if [ -f "$cfg" ]; then TORCH_ARGS=("-DTorch_DIR=$(dirname "$cfg")"); log "LibTorch: $(dirname "$cfg")"; return; fi
    done
  fi
  die "no LibTorch found. Install one and re-run, e.g.
    Debian 12 / Ubuntu:  sudo apt-get install libtorch-dev
    or pip:              pip install torch   (then this script finds it through python3)
    or a LibTorch zip:   export Torch_DIR=/path/to/libtorch/share/cmake/Torch"
}

# ccache when installed (and not disabled): the launcher is set at the first configure only.
# CMake's precompiled headers need these sloppiness settings (and -fpch-preprocess with GCC,
# added by cmake/mmcv_ops_dev.cmake) for ccache to cache the TUs that use them.
CCACHE_ARGS=()
if [ "${MMCV_OPS_CCACHE:-1}" != "0" ] && command -v ccache >/dev/null 2>&1; then
  CCACHE_ARGS=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
fi

# configure <extra cmake args...>
configure() {
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
    # Reconfigure in place (keeps the generator and incremental state).
    cmake -S "$MMCV_OPS_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${TORCH_ARGS[@]}" \
      ${MMCV_OPS_CMAKE_ARGS:-} "$@" >/dev/null
  else
    [ ${#CCACHE_ARGS[@]} -gt 0 ] && log "ccache: on (MMCV_OPS_CCACHE=0 turns it off)"
    cmake -S "$MMCV_OPS_ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${TORCH_ARGS[@]}" \
      "${CCACHE_ARGS[@]}" ${MMCV_OPS_CMAKE_ARGS:-} "$@"
  fi
}

build() {
  local jobs t0=$SECONDS
  jobs="${MMCV_OPS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  cmake --build "$BUILD_DIR" --parallel "$jobs" "$@"
  log "build done in $((SECONDS - t0)) s"
}

# How many tests ctest runs at once: one per core, but leave ~3 GiB of RAM per test (the
# heaviest, an ASan reliability run, peaks well below that).
ctest_jobs() {
  if [ -n "${MMCV_OPS_CTEST_JOBS:-}" ]; then echo "$MMCV_OPS_CTEST_JOBS"; return; fi
  local cores mem_gib
  cores="$(nproc 2>/dev/null || echo 2)"
  mem_gib="$(awk '/MemTotal/ {print int($2 / 1048576)}' /proc/meminfo 2>/dev/null || echo 0)"
  if [ "$mem_gib" -ge 3 ] && [ $((mem_gib / 3)) -lt "$cores" ]; then cores=$((mem_gib / 3)); fi
  [ "$cores" -ge 1 ] || cores=1
  echo "$cores"
}
