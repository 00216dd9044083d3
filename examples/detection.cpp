// SPDX-License-Identifier: Apache-2.0
// A small detection post-processing walk-through on built-in sample data:
//   1. raw detections from a (pretend) detector head, three classes;
//   2. bbox_overlaps: how well each detection matches the two ground-truth objects;
//   3. batched_nms: class-aware NMS (MMCV's nms_cfg dict as NmsConfig);
//   4. roi_align: pool a 7x7 feature patch for every kept detection (a Mask R-CNN-style head input).
// Prints deterministic output (compared with detection.expected by ctest).

#include <mmcv/ops.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

// 12 detections: x1, y1, x2, y2 (pixels in a 320 x 240 image), score, class.
struct Det {
  float x1, y1, x2, y2, score;
  int64_t cls;
};
const std::vector<Det> kDetections = {
    {20, 30, 120, 150, 0.95f, 0},   {24, 28, 118, 155, 0.90f, 0},   {30, 40, 125, 160, 0.60f, 0},
    {150, 60, 260, 200, 0.88f, 1},  {155, 65, 262, 195, 0.85f, 1},  {148, 58, 250, 210, 0.40f, 1},
    {200, 20, 300, 90, 0.75f, 2},   {205, 25, 298, 95, 0.70f, 2},   {22, 32, 119, 149, 0.55f, 1},
    {60, 180, 110, 230, 0.30f, 0},  {62, 182, 112, 228, 0.28f, 0},  {240, 150, 310, 235, 0.05f, 2},
};
const char* kClassNames[] = {"person", "car", "dog"};

// Ground truth: a person and a car.
const std::vector<std::vector<float>> kGroundTruth = {{22, 30, 120, 152}, {152, 62, 258, 202}};

at::Tensor boxes_of(const std::vector<Det>& d) {
  std::vector<float> v;
  for (const auto& x : d) v.insert(v.end(), {x.x1, x.y1, x.x2, x.y2});
  return at::tensor(v).reshape({static_cast<int64_t>(d.size()), 4});
}

void rule(const char* title) { std::printf("\n== %s ==\n", title); }

}  // namespace

int main() {
  std::printf("mmcv-ops %s example: detection post-processing on built-in sample data\n", mmcv::ops::version_string);

  const at::Tensor boxes = boxes_of(kDetections);  // [12, 4] float32
  std::vector<float> gt_flat;
  for (const auto& g : kGroundTruth) gt_flat.insert(gt_flat.end(), g.begin(), g.end());
  const at::Tensor gt = at::tensor(gt_flat).reshape({2, 4});

  rule("1. raw detections");
  std::printf("%3s  %-7s %6s  %s\n", "#", "class", "score", "box (x1, y1, x2, y2)");
  for (size_t i = 0; i < kDetections.size(); ++i) {
    const Det& d = kDetections[i];
    std::printf("%3zu  %-7s %6.2f  (%5.1f, %5.1f, %5.1f, %5.1f)\n", i, kClassNames[d.cls], d.score, d.x1, d.y1,
                d.x2, d.y2);
  }

  rule("2. bbox_overlaps(detections, ground truth): IoU and IoF");
  const at::Tensor iou = mmcv::ops::bbox_overlaps(boxes, gt);                 // [12, 2]
  const at::Tensor iof = mmcv::ops::bbox_overlaps(boxes, gt, "iof");          // [12, 2]
  std::printf("%3s  %9s %9s   %9s %9s\n", "#", "IoU(gt0)", "IoU(gt1)", "IoF(gt0)", "IoF(gt1)");
  for (int64_t i = 0; i < iou.size(0); ++i)
    std::printf("%3ld  %9.3f %9.3f   %9.3f %9.3f\n", static_cast<long>(i), iou[i][0].item<float>(),
                iou[i][1].item<float>(), iof[i][0].item<float>(), iof[i][1].item<float>());
  const auto best = iou.max(0);
  for (int64_t g = 0; g < gt.size(0); ++g)
    std::printf("ground truth %ld is best matched by detection %ld (IoU %.3f)\n", static_cast<long>(g),
                static_cast<long>(std::get<1>(best)[g].item<int64_t>()), std::get<0>(best)[g].item<float>());

  rule("3. batched_nms(nms_cfg = dict(type='nms', iou_threshold=0.5, score_threshold=0.1))");
  std::vector<float> scores_v;
  std::vector<int64_t> labels_v;
  for (const auto& d : kDetections) {
    scores_v.push_back(d.score);
    labels_v.push_back(d.cls);
  }
  const at::Tensor scores = at::tensor(scores_v);
  const at::Tensor labels = at::tensor(labels_v);
  const auto cfg = mmcv::ops::NmsConfig().type("nms").iou_threshold(0.5).score_threshold(0.1);
  auto [dets, keep] = mmcv::ops::batched_nms(boxes, scores, labels, cfg);
  std::printf("kept %ld of %ld detections (suppression only within a class):\n", static_cast<long>(keep.size(0)),
              static_cast<long>(boxes.size(0)));
  std::printf("%3s  %-7s %6s  %s\n", "#", "class", "score", "box (x1, y1, x2, y2)");
  for (int64_t i = 0; i < keep.size(0); ++i) {
    const int64_t k = keep[i].item<int64_t>();
    std::printf("%3ld  %-7s %6.2f  (%5.1f, %5.1f, %5.1f, %5.1f)\n", static_cast<long>(k),
                kClassNames[kDetections[static_cast<size_t>(k)].cls], dets[i][4].item<float>(), dets[i][0].item<float>(),
                dets[i][1].item<float>(), dets[i][2].item<float>(), dets[i][3].item<float>());
  }
  // Class-agnostic NMS for comparison: detection 8 ("car" on top of person 0) now disappears.
  auto agnostic = std::get<1>(mmcv::ops::batched_nms(boxes, scores, labels, cfg, /*class_agnostic=*/true));
  std::printf("class-agnostic NMS keeps %ld:", static_cast<long>(agnostic.size(0)));
  for (int64_t i = 0; i < agnostic.size(0); ++i) std::printf(" %ld", static_cast<long>(agnostic[i].item<int64_t>()));
  std::printf("\n");

  rule("4. roi_align(features, rois, (7, 7), spatial_scale=1/8, sampling_ratio=2, 'avg', aligned=True)");
  // A deterministic 1x4x30x40 feature map (stride 8 over the 320x240 image): channel c is a ramp.
  const auto ys = at::arange(30, at::kFloat).view({30, 1}).expand({30, 40});
  const auto xs = at::arange(40, at::kFloat).view({1, 40}).expand({30, 40});
  const at::Tensor features = at::stack({xs, ys, xs + ys, (xs - 20).abs()}).unsqueeze(0).contiguous();
  const at::Tensor rois = at::cat({at::zeros({keep.size(0), 1}), dets.narrow(1, 0, 4)}, 1);  // [K, 5]
  const at::Tensor pooled = mmcv::ops::roi_align(features, rois, {7, 7}, /*spatial_scale=*/1.0 / 8,
                                                 /*sampling_ratio=*/2, "avg", /*aligned=*/true);
  std::printf("pooled features: [%ld, %ld, %ld, %ld]\n", static_cast<long>(pooled.size(0)),
              static_cast<long>(pooled.size(1)), static_cast<long>(pooled.size(2)), static_cast<long>(pooled.size(3)));
  std::printf("%3s  %22s  %22s\n", "#", "channel x: min..max", "channel y: min..max");
  for (int64_t i = 0; i < pooled.size(0); ++i)
    std::printf("%3ld  %10.3f..%-10.3f  %10.3f..%-10.3f\n", static_cast<long>(keep[i].item<int64_t>()),
                pooled[i][0].min().item<float>(), pooled[i][0].max().item<float>(), pooled[i][1].min().item<float>(),
                pooled[i][1].max().item<float>());
  return 0;
}
