// SPDX-License-Identifier: Apache-2.0
// bbox_overlaps vs torchvision::box_iou (Python-only in torchvision, so the peer here is the
// same broadcast formula torchvision uses, written with ATen: the fair "plain PyTorch" peer).

#include <mmcv/ops/bbox.hpp>

#include <benchmark/benchmark.h>

namespace {

at::Tensor clustered_boxes(int64_t n, double image = 1333.0) {
  auto centers = at::rand({n / 10 + 1, 2}) * image;
  auto pick = at::randint(centers.size(0), {n}, at::kLong);
  auto c = centers.index_select(0, pick) + at::randn({n, 2}) * 20.0;
  auto wh = at::rand({n, 2}) * 100.0 + 8.0;
  return at::cat({c - wh / 2, c + wh / 2}, 1);
}

void BM_bbox_overlaps(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto a = clustered_boxes(n), b = clustered_boxes(n);
  for (auto _ : state) benchmark::DoNotOptimize(mmcv::ops::bbox_overlaps(a, b));
  state.SetLabel(std::to_string(n) + "x" + std::to_string(n) + " iou");
}

// torchvision.ops.box_iou, the formula of torchvision/ops/boxes.py (no compiled kernel exists).
void BM_torchvision_box_iou_formula(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto a = clustered_boxes(n), b = clustered_boxes(n);
  for (auto _ : state) {
    auto area1 = (a.select(1, 2) - a.select(1, 0)) * (a.select(1, 3) - a.select(1, 1));
    auto area2 = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
    auto lt = at::max(a.unsqueeze(1).slice(2, 0, 2), b.slice(1, 0, 2));
    auto rb = at::min(a.unsqueeze(1).slice(2, 2, 4), b.slice(1, 2, 4));
    auto wh = (rb - lt).clamp_min(0);
    auto inter = wh.select(2, 0) * wh.select(2, 1);
    benchmark::DoNotOptimize(inter / (area1.unsqueeze(1) + area2 - inter));
  }
}

BENCHMARK(BM_bbox_overlaps)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_torchvision_box_iou_formula)->Arg(2000)->Unit(benchmark::kMillisecond);

}  // namespace
