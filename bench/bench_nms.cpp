// SPDX-License-Identifier: Apache-2.0
// NMS family vs torchvision's compiled kernels, in the same process.
//
//   BM_nms_vs_torchvision/N          nms(iou 0.5) and torchvision::nms on the same inputs, the two
//                                    calls interleaved in every iteration; counters ours_ms,
//                                    torchvision_ms and ratio (ours / torchvision).
//   BM_nms/N, BM_torchvision_nms/N   the same calls timed separately (Google Benchmark's own time).
//   BM_soft_nms/N                    soft_nms linear (0.3, 0.5, 1e-3); no compiled peer exists:
//                                    MMCV's CPU timings are quoted in docs/performance.md.
//   BM_batched_nms_vs_torchvision    20,000 boxes over 80 classes: ours (MMCV's per-class path,
//                                    split_thr 10000) vs torchvision.ops.batched_nms's CPU path for
//                                    this size (_batched_nms_vanilla: one torchvision::nms per class,
//                                    written here with ATen + the compiled torchvision::nms).
// Workloads follow ../shared/reference/mmcv_cpu_timings.md: N boxes in N/20 clusters on an
// 800^2 (N = 1000) or 1333^2 image, distinct scores.

#include <mmcv/ops/nms.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <tuple>

#include "common/peer.hpp"

namespace {

struct Workload {
  at::Tensor boxes, scores, idxs;
};

Workload clustered(int64_t n, int64_t classes = 1) {
  at::manual_seed(n);
  const double image = n <= 1000 ? 800.0 : 1333.0;
  const int64_t clusters = n / 20;
  auto centres = at::rand({clusters, 2}, at::kDouble) * image;
  auto size = at::rand({clusters, 2}, at::kDouble) * 120.0 + 30.0;
  auto pick = at::randint(0, clusters, {n}, at::kLong);
  auto cs = size.index_select(0, pick);
  auto ctr = centres.index_select(0, pick) + at::randn({n, 2}, at::kDouble) * cs * 0.1;
  auto wh = cs * (1.0 + at::randn({n, 2}, at::kDouble) * 0.1);
  Workload w;
  w.boxes = at::cat({ctr - wh / 2, ctr + wh / 2}, 1).to(at::kFloat);
  w.scores = at::rand({n});
  w.idxs = at::randint(0, classes, {n}, at::kLong);
  return w;
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

bool torchvision_nms_available(benchmark::State& state) {
  if (mmcv_bench::Torchvision::get().has_op("nms")) return true;
  state.SkipWithError("torchvision absent");
  return false;
}
at::Tensor tv_nms(const at::Tensor& b, const at::Tensor& s, double thr) {
  static auto op = mmcv_bench::Torchvision::get().op<at::Tensor(const at::Tensor&, const at::Tensor&, double)>("nms");
  return op.call(b, s, thr);
}

void BM_nms_vs_torchvision(benchmark::State& state) {
  if (!torchvision_nms_available(state)) return;
  const auto w = clustered(state.range(0));
  double ours = 0, peer = 0;
  int64_t kept = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto r = mmcv::ops::nms(w.boxes, w.scores, 0.5);
    ours += ms_since(t0);
    t0 = Clock::now();
    auto k = tv_nms(w.boxes, w.scores, 0.5);
    peer += ms_since(t0);
    kept = k.numel();
    benchmark::DoNotOptimize(r);
    if (!at::equal(std::get<1>(r), k)) state.SkipWithError("ours and torchvision disagree");
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = ours / it;
  state.counters["torchvision_ms"] = peer / it;
  state.counters["ratio"] = ours / peer;
  state.SetLabel(std::to_string(kept) + " kept");
}

void BM_nms(benchmark::State& state) {
  const auto w = clustered(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(mmcv::ops::nms(w.boxes, w.scores, 0.5));
}

void BM_torchvision_nms(benchmark::State& state) {
  if (!torchvision_nms_available(state)) return;
  const auto w = clustered(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(tv_nms(w.boxes, w.scores, 0.5));
}

void BM_soft_nms(benchmark::State& state) {
  const auto w = clustered(state.range(0));
  int64_t kept = 0;
  for (auto _ : state) {
    auto r = mmcv::ops::soft_nms(w.boxes, w.scores, 0.3, 0.5, 1e-3, "linear");
    kept = std::get<1>(r).numel();
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(std::to_string(kept) + " kept");
}

// torchvision.ops.boxes._batched_nms_vanilla (its CPU choice above 4000 coordinates).
at::Tensor tv_batched_nms_vanilla(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double thr) {
  auto keep_mask = at::zeros_like(scores, at::kBool);
  const auto classes = std::get<0>(at::unique_consecutive(std::get<0>(idxs.sort())));
  for (int64_t c = 0; c < classes.size(0); ++c) {
    const auto curr = at::nonzero(idxs == classes[c]).squeeze(1);
    const auto k = tv_nms(boxes.index_select(0, curr), scores.index_select(0, curr), thr);
    keep_mask.index_fill_(0, curr.index_select(0, k), true);
  }
  const auto keep = at::nonzero(keep_mask).squeeze(1);
  return keep.index_select(0, std::get<1>(scores.index_select(0, keep).sort(0, /*descending=*/true)));
}

void BM_batched_nms_vs_torchvision(benchmark::State& state) {
  if (!torchvision_nms_available(state)) return;
  const auto w = clustered(state.range(0), /*classes=*/80);
  const auto cfg = mmcv::ops::NmsConfig().iou_threshold(0.5);
  double ours = 0, peer = 0;
  int64_t kept = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto r = mmcv::ops::batched_nms(w.boxes, w.scores, w.idxs, cfg);
    ours += ms_since(t0);
    t0 = Clock::now();
    auto k = tv_batched_nms_vanilla(w.boxes, w.scores, w.idxs, 0.5);
    peer += ms_since(t0);
    kept = k.numel();
    benchmark::DoNotOptimize(r);
    if (std::get<1>(r).numel() != k.numel()) state.SkipWithError("ours and torchvision disagree");
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = ours / it;
  state.counters["torchvision_ms"] = peer / it;
  state.counters["ratio"] = ours / peer;
  state.SetLabel(std::to_string(kept) + " kept, 80 classes");
}

BENCHMARK(BM_nms_vs_torchvision)->Arg(1000)->Arg(5000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_nms)->Arg(1000)->Arg(5000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_torchvision_nms)->Arg(1000)->Arg(5000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_soft_nms)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_batched_nms_vs_torchvision)->Arg(20000)->Unit(benchmark::kMillisecond);

}  // namespace
