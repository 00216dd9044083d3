// SPDX-License-Identifier: Apache-2.0
// A small detection post-processing walk-through on built-in sample data:
//   1. raw detections from a (pretend) detector head, three classes;
//   2. bbox_overlaps: how well each detection matches the two ground-truth objects.
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
  return 0;
}
