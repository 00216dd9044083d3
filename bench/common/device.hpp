// SPDX-License-Identifier: Apache-2.0
#pragma once
// The device benchmarks run on: `--device=cpu|cuda` on the command line (bench_main strips it
// before Google Benchmark parses the rest) or $MMCV_OPS_BENCH_DEVICE; default cpu. A bench file
// takes part by building its inputs with mmcv_bench::on_device(...) / mmcv_bench::options() and
// timing with mmcv_bench::run(state, fn) (or calling mmcv_bench::sync() after each iteration),
// so that asynchronous device work is inside the timed region.

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <cstdlib>
#include <string>

namespace mmcv_bench {

/// Parse "cpu", "cuda", "cuda:1" (anything at::Device accepts).
inline at::Device parse_device(const std::string& s) { return at::Device(s.empty() ? std::string("cpu") : s); }

inline at::Device& device_storage() {
  static at::Device d = [] {
    const char* env = std::getenv("MMCV_OPS_BENCH_DEVICE");
    return parse_device(env ? env : "cpu");
  }();
  return d;
}

/// The benchmark device.
inline at::Device device() { return device_storage(); }
inline void set_device(const at::Device& d) { device_storage() = d; }
inline bool on_cuda() { return device().is_cuda(); }

/// Tensor options on the benchmark device.
inline at::TensorOptions options(at::ScalarType dtype = at::kFloat) {
  return at::TensorOptions().dtype(dtype).device(device());
}
/// Move a tensor built on the CPU (deterministic generators) to the benchmark device.
inline at::Tensor on_device(const at::Tensor& t) { return t.to(device()); }

/// Wait for the device's current stream (no-op on CPU). Uses c10's device-generic guard, so no
/// CUDA headers are needed.
inline void sync(const at::Device& d = device()) {
  if (d.is_cpu()) return;
  c10::impl::VirtualGuardImpl impl(d.type());
  impl.getStream(d).synchronize();
}

/// The standard timed loop: call fn, keep its result alive, synchronise the device.
template <typename F>
void run(benchmark::State& state, F&& fn) {
  sync();
  for (auto _ : state) {
    benchmark::DoNotOptimize(fn());
    sync();
  }
}

/// Remove `--device=<d>` from argv (before benchmark::Initialize) and apply it.
inline void take_device_flag(int* argc, char** argv) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--device=", 0) == 0) {
      set_device(parse_device(a.substr(9)));
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  argv[out] = nullptr;
}

}  // namespace mmcv_bench
