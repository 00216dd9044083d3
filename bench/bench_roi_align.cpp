// SPDX-License-Identifier: Apache-2.0
// roi_align vs torchvision's compiled torchvision::roi_align, in the same process.
//
//   BM_roi_align_vs_torchvision/K/sampling_ratio/backward
//       ours (average pooling, aligned) and torchvision::roi_align on the same inputs, the two
//       calls interleaved in every iteration; counters ours_ms, torchvision_ms and ratio
//       (ours / torchvision). backward = 1: forward + backward (autograd, grad_output = ones) for
//       both. Before timing, the two forwards are checked to agree (MMCV's average equals
//       torchvision's bit for bit in exact arithmetic; allclose 1e-4 here).
//   BM_roi_align_max/K/sampling_ratio/backward
//       pool_mode "max" (MMCV only, no peer), for reference.
// Workload (../shared/reference/mmcv_cpu_timings.md): K rois (batch index 0) on a 1x256x100x152
// map, output 7x7, spatial_scale 1/8, aligned; roi w, h log-uniform in 8 px .. 0.8 x the
// 1216 x 800 image, uniformly placed inside it.

#include <mmcv/ops/roi_align.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <string>

#include "common/peer.hpp"

namespace {

struct Workload {
  at::Tensor input, rois;
};

Workload detection_rois(int64_t K) {
  at::manual_seed(K);
  Workload w;
  w.input = at::randn({1, 256, 100, 152});
  const double lo = std::log(8.0);
  auto rw = (at::rand({K}, at::kDouble) * (std::log(0.8 * 1216) - lo) + lo).exp();
  auto rh = (at::rand({K}, at::kDouble) * (std::log(0.8 * 800) - lo) + lo).exp();
  auto x1 = at::rand({K}, at::kDouble) * (1216 - rw), y1 = at::rand({K}, at::kDouble) * (800 - rh);
  w.rois = at::stack({at::zeros({K}, at::kDouble), x1, y1, x1 + rw, y1 + rh}, 1).to(at::kFloat);
  return w;
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

using TvRoiAlign = at::Tensor(const at::Tensor&, const at::Tensor&, double, int64_t, int64_t, int64_t, bool);

constexpr double kScale = 1.0 / 8;

void BM_roi_align_vs_torchvision(benchmark::State& state) {
  auto& tv = mmcv_bench::Torchvision::get();
  if (!tv.has_op("roi_align")) {
    state.SkipWithError("torchvision absent");
    return;
  }
  const auto op = tv.op<TvRoiAlign>("roi_align");
  const int64_t K = state.range(0), sr = state.range(1);
  const bool backward = state.range(2) != 0;
  const auto w = detection_rois(K);
  {
    const auto ours = mmcv::ops::roi_align(w.input, w.rois, 7, kScale, sr, "avg", true);
    const auto peer = op.call(w.input, w.rois, kScale, 7, 7, sr, true);
    if (!at::allclose(ours, peer, 1e-4, 1e-4)) {
      state.SkipWithError("ours and torchvision disagree");
      return;
    }
  }
  const auto x = w.input.clone().requires_grad_(backward);
  double ours = 0, peer = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto a = mmcv::ops::roi_align(x, w.rois, 7, kScale, sr, "avg", true);
    if (backward) a.backward(at::ones_like(a));
    ours += ms_since(t0);
    t0 = Clock::now();
    auto b = op.call(x, w.rois, kScale, 7, 7, sr, true);
    if (backward) b.backward(at::ones_like(b));
    peer += ms_since(t0);
    if (backward) x.mutable_grad().reset();
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = ours / it;
  state.counters["torchvision_ms"] = peer / it;
  state.counters["ratio"] = ours / peer;
  state.SetLabel(std::to_string(K) + " rois, sr " + std::to_string(sr) + (backward ? ", fwd+bwd" : ", fwd"));
}

void BM_roi_align_max(benchmark::State& state) {
  const int64_t K = state.range(0), sr = state.range(1);
  const bool backward = state.range(2) != 0;
  const auto w = detection_rois(K);
  const auto x = w.input.clone().requires_grad_(backward);
  for (auto _ : state) {
    auto a = mmcv::ops::roi_align(x, w.rois, 7, kScale, sr, "max", true);
    if (backward) {
      a.backward(at::ones_like(a));
      x.mutable_grad().reset();
    }
    benchmark::DoNotOptimize(a);
  }
  state.SetLabel(std::to_string(K) + " rois, sr " + std::to_string(sr) + (backward ? ", max fwd+bwd" : ", max fwd"));
}

BENCHMARK(BM_roi_align_vs_torchvision)
    ->ArgsProduct({{512, 1000}, {2, 0}, {0, 1}})
    ->ArgNames({"K", "sr", "bwd"})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_roi_align_max)->ArgsProduct({{512}, {2, 0}, {0, 1}})->ArgNames({"K", "sr", "bwd"})->Unit(benchmark::kMillisecond);

}  // namespace
