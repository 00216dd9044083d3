// SPDX-License-Identifier: Apache-2.0
// Rotated / quadrilateral family: box_iou_rotated 1000 x 1000, box_iou_quadri 1000 x 1000,
// nms_rotated 2000 boxes, roi_align_rotated 512 RoIs on 1x256x100x152 (forward, backward).
// No compiled peer exists in-process (torchvision has no rotated ops in 0.14; MMCV's kernels
// are a Python extension), so the peer here is a plain scalar float64 loop over the same pairs
// (the test suite's reference: MMCV's corner formula + Sutherland-Hodgman clipping, and MMCV's
// quadrilateral rule + a monotone-chain hull), and MMCV's own CPU timings are quoted in
// docs/performance.md.

#include <mmcv/ops/box_iou_quadri.hpp>
#include <mmcv/ops/box_iou_rotated.hpp>
#include <mmcv/ops/nms.hpp>
#include <mmcv/ops/roi_align_rotated.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <string>

#include "../tests/ops/polygon_reference.hpp"
#include "common/device.hpp"

namespace {

// Clustered rotated boxes on an image x image canvas: cluster centres uniform, box centres around
// them (normal, sd px), sides uniform in [lo, lo + span] px, angles uniform in [-pi/2, pi/2).
at::Tensor clustered_rotated(int64_t n, double image, int64_t clusters, double sd = 20.0, double lo = 8.0,
                             double span = 100.0) {
  auto centres = at::rand({clusters, 2}, at::kDouble) * image;
  auto pick = at::randint(clusters, {n}, at::kLong);
  auto xy = centres.index_select(0, pick) + at::randn({n, 2}, at::kDouble) * sd;
  auto wh = at::rand({n, 2}, at::kDouble) * span + lo;
  auto a = (at::rand({n, 1}, at::kDouble) - 0.5) * M_PI;
  return at::cat({xy, wh, a}, 1).to(at::kFloat);
}

// Quadrilaterals: the corners of clustered rotated boxes, each corner jittered by up to 2 px
// (convex, not parallelograms: MMCV's approximate vertex test matters).
at::Tensor clustered_quads(int64_t n, double image, int64_t clusters, double sd = 20.0) {
  auto b = clustered_rotated(n, image, clusters, sd).to(at::kDouble);
  std::vector<at::Tensor> pts;
  const std::vector<std::pair<double, double>> corner = {{-0.5, 0.5}, {-0.5, -0.5}, {0.5, -0.5}, {0.5, 0.5}};
  auto c = b.select(1, 4).cos(), s = b.select(1, 4).sin();
  for (auto [ox, oy] : corner) {
    auto dx = b.select(1, 2) * ox, dy = b.select(1, 3) * oy;
    pts.push_back(b.select(1, 0) + c * dx - s * dy + (at::rand({n}, at::kDouble) - 0.5) * 4);
    pts.push_back(b.select(1, 1) + s * dx + c * dy + (at::rand({n}, at::kDouble) - 0.5) * 4);
  }
  return at::stack(pts, 1).to(at::kFloat);
}

// Both sides of a box_iou benchmark come from one draw (same clusters), split in two halves.
// state.range(1) == 1: the dense worst case, every box within a few px of one point (every pair
// overlaps, so the bounding-box pruning skips nothing).
std::pair<at::Tensor, at::Tensor> iou_sets(int64_t n, bool dense, bool quads) {
  const double image = dense ? 0 : 1024, sd = dense ? 2 : 20;
  const int64_t clusters = dense ? 1 : 100;
  auto all = quads ? clustered_quads(2 * n, image, clusters, sd) : clustered_rotated(2 * n, image, clusters, sd);
  return {all.narrow(0, 0, n).contiguous(), all.narrow(0, n, n).contiguous()};
}

// One timed IoU op on the iou_sets workload (quads: box_iou_quadri's inputs), plus a count of
// the overlapping pairs (outside the timed loop).
template <typename Op>
void run_iou(benchmark::State& state, bool quads, Op op) {
  at::manual_seed(0);  // the same inputs in every repetition
  auto [a, b] = iou_sets(state.range(0), state.range(1) == 1, quads);
  a = mmcv_bench::on_device(a);
  b = mmcv_bench::on_device(b);
  mmcv_bench::run(state, [&] { return op(a, b); });
  const at::Tensor ious = op(a, b);
  state.counters["overlapping_pairs"] = static_cast<double>((ious > 0).sum().item<int64_t>());
}

void BM_box_iou_rotated(benchmark::State& state) {
  run_iou(state, false, [](const at::Tensor& a, const at::Tensor& b) { return mmcv::ops::box_iou_rotated(a, b); });
}

void BM_box_iou_quadri(benchmark::State& state) {
  run_iou(state, true, [](const at::Tensor& a, const at::Tensor& b) { return mmcv::ops::box_iou_quadri(a, b); });
}

// Scalar float64 loop over every pair (the test suite's reference): the "plain loop" peer.
void BM_scalar_loop_box_iou_rotated(benchmark::State& state) {
  at::manual_seed(0);  // the same inputs in every repetition
  auto [a, b] = iou_sets(state.range(0), state.range(1) == 1, false);
  for (auto _ : state) {
    benchmark::DoNotOptimize(polygon_ref::pairwise(a, b, false, [](const auto& p, const auto& q) {
      return polygon_ref::rotated_iou(p, q, false, true);
    }));
  }
}

void BM_scalar_loop_box_iou_quadri(benchmark::State& state) {
  at::manual_seed(0);  // the same inputs in every repetition
  auto [a, b] = iou_sets(state.range(0), state.range(1) == 1, true);
  for (auto _ : state) {
    benchmark::DoNotOptimize(polygon_ref::pairwise(a, b, false, [](const auto& p, const auto& q) {
      return polygon_ref::quadri_iou(p, q, false);
    }));
  }
}

// nms_rotated workload: 2000 boxes in 100 tight clusters (sd 4 px, sides 40-100 px) on 1333^2,
// iou 0.5: about 270 kept, as MMCV's timed workload (264 kept).
void BM_nms_rotated(benchmark::State& state) {
  at::manual_seed(0);  // the same inputs in every repetition
  const int64_t n = state.range(0);
  auto d = clustered_rotated(n, 1333, n / 20, 4.0, 40.0, 60.0);
  auto dets = mmcv_bench::on_device(d);
  auto scores = mmcv_bench::on_device(at::rand({n}));
  mmcv_bench::run(state, [&] { return std::get<1>(mmcv::ops::nms_rotated(dets, scores, 0.5)); });
  state.counters["kept"] = static_cast<double>(std::get<1>(mmcv::ops::nms_rotated(dets, scores, 0.5)).size(0));
}

void BM_scalar_loop_nms_rotated(benchmark::State& state) {
  at::manual_seed(0);  // the same inputs in every repetition
  const int64_t n = state.range(0);
  auto dets = clustered_rotated(n, 1333, n / 20, 4.0, 40.0, 60.0);
  auto scores = at::rand({n});
  for (auto _ : state) {
    benchmark::DoNotOptimize(polygon_ref::greedy_nms(dets, scores, 0.5, [](const auto& p, const auto& q) {
      return polygon_ref::rotated_iou(p, q, false, true);
    }));
  }
}

// 512 rotated RoIs (batch 0) on a 1x256x100x152 map (stride 8 of 1216x800), out 7x7,
// spatial_scale 1/8, sampling_ratio 2, aligned, clockwise false; sides log-uniform 8 px .. 0.8x.
std::pair<at::Tensor, at::Tensor> roi_inputs(int64_t k) {
  auto input = at::randn({1, 256, 100, 152});
  auto cx = at::rand({k, 1}) * 1216, cy = at::rand({k, 1}) * 800;
  auto w = at::exp(at::rand({k, 1}) * std::log(0.8 * 1216 / 8)) * 8;
  auto h = at::exp(at::rand({k, 1}) * std::log(0.8 * 800 / 8)) * 8;
  auto th = (at::rand({k, 1}) - 0.5) * M_PI;
  auto rois = at::cat({at::zeros({k, 1}), cx, cy, w, h, th}, 1);
  return {input, rois};
}

void BM_roi_align_rotated_forward(benchmark::State& state) {
  at::manual_seed(0);  // the same inputs in every repetition
  auto [input, rois] = roi_inputs(state.range(0));
  input = mmcv_bench::on_device(input);
  rois = mmcv_bench::on_device(rois);
  mmcv_bench::run(state, [&] {
    return mmcv::ops::roi_align_rotated(input, rois, {7, 7}, 0.125, 2, /*aligned=*/true, /*clockwise=*/false);
  });
}

void BM_roi_align_rotated_backward(benchmark::State& state) {
  at::manual_seed(0);  // the same inputs in every repetition
  auto [input, rois] = roi_inputs(state.range(0));
  input = mmcv_bench::on_device(input).requires_grad_(true);
  rois = mmcv_bench::on_device(rois);
  auto grad = mmcv_bench::on_device(at::randn({state.range(0), 256, 7, 7}));
  auto out = mmcv::ops::roi_align_rotated(input, rois, {7, 7}, 0.125, 2, true, false);
  mmcv_bench::run(state, [&] {
    out.backward(grad, /*retain_graph=*/true);
    auto g = input.grad().clone();
    input.mutable_grad().zero_();
    return g;
  });
}

BENCHMARK(BM_box_iou_rotated)->Args({1000, 0})->Args({1000, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_scalar_loop_box_iou_rotated)->Args({1000, 0})->Args({1000, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_box_iou_quadri)->Args({1000, 0})->Args({1000, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_scalar_loop_box_iou_quadri)->Args({1000, 0})->Args({1000, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_nms_rotated)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_scalar_loop_nms_rotated)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_roi_align_rotated_forward)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_roi_align_rotated_backward)->Arg(512)->Unit(benchmark::kMillisecond);

}  // namespace
