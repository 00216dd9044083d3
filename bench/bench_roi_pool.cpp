// SPDX-License-Identifier: Apache-2.0
// roi_pool vs torchvision's compiled torchvision::roi_pool, in the same process.
//
//   BM_roi_pool_vs_torchvision/K/backward
//       ours and torchvision::roi_pool on the same inputs, interleaved in every iteration;
//       counters ours_ms, torchvision_ms, ratio (ours / torchvision). backward = 1: forward +
//       backward (autograd, grad_output = ones) for both. torchvision rounds the scaled corners
//       and MMCV (hence we) does not, so the outputs differ slightly: torchvision is a peer for
//       speed only (the same amount of work: every pixel of every bin).
// Workload: the roi_align one (../shared/reference/mmcv_cpu_timings.md): K rois (batch index 0)
// on a 1x256x100x152 map, output 7x7, spatial_scale 1/8; roi w, h log-uniform in 8 px .. 0.8 x
// the 1216 x 800 image.

#include <mmcv/ops/roi_pool.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <string>
#include <tuple>

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

using TvRoiPool = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, double, int64_t, int64_t);

constexpr double kScale = 1.0 / 8;

void BM_roi_pool_vs_torchvision(benchmark::State& state) {
  auto& tv = mmcv_bench::Torchvision::get();
  if (!tv.has_op("roi_pool")) {
    state.SkipWithError("torchvision absent");
    return;
  }
  const auto op = tv.op<TvRoiPool>("roi_pool");
  const int64_t K = state.range(0);
  const bool backward = state.range(1) != 0;
  const auto w = detection_rois(K);
  const auto x = w.input.clone().requires_grad_(backward);
  double ours = 0, peer = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto a = mmcv::ops::roi_pool(x, w.rois, 7, kScale);
    if (backward) a.backward(at::ones_like(a));
    ours += ms_since(t0);
    t0 = Clock::now();
    auto b = std::get<0>(op.call(x, w.rois, kScale, 7, 7));
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
  state.SetLabel(std::to_string(K) + " rois" + (backward ? ", fwd+bwd" : ", fwd"));
}

BENCHMARK(BM_roi_pool_vs_torchvision)
    ->ArgsProduct({{512, 1000}, {0, 1}})
    ->ArgNames({"K", "bwd"})
    ->Unit(benchmark::kMillisecond);

}  // namespace
