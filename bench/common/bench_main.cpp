// SPDX-License-Identifier: Apache-2.0
// Benchmark main: sets ATen's intra-op thread count explicitly (Debian's LibTorch starts with 1),
// from $MMCV_OPS_BENCH_THREADS (default 2), records it and the peer availability in the context.
// `--device=cuda` (or $MMCV_OPS_BENCH_DEVICE) selects the device of benches that use
// common/device.hpp; the default stays the CPU.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/device.hpp"
#include "common/peer.hpp"

int main(int argc, char** argv) {
  int threads = 2;
  if (const char* env = std::getenv("MMCV_OPS_BENCH_THREADS")) threads = std::atoi(env);
  mmcv_bench::take_device_flag(&argc, argv);
  if (mmcv_bench::on_cuda() && !at::hasCUDA()) {
    fprintf(stderr, "bench: --device=%s requested but this LibTorch/machine has no CUDA\n",
            mmcv_bench::device().str().c_str());
    return 2;
  }
  at::set_num_threads(threads);
  at::manual_seed(0);
  benchmark::AddCustomContext("aten_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("device", at::hasCUDA() ? "cpu+cuda available" : "cpu");
  benchmark::AddCustomContext("bench_device", mmcv_bench::device().str());
  auto& tv = mmcv_bench::Torchvision::get();
  benchmark::AddCustomContext("torchvision_peer", tv.available() ? tv.path() : "absent (peer benchmarks skipped)");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
