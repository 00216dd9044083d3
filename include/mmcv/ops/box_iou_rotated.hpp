// SPDX-License-Identifier: Apache-2.0
#pragma once
// IoU of rotated boxes. Mirrors mmcv/ops/box_iou_rotated.py (mmcv.ops.box_iou_rotated).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/polygon.hpp>

#include <string>

namespace mmcv {
namespace ops {

/// Intersection over union (or over the first box's area) of rotated boxes.
///
/// MMCV: `mmcv.ops.box_iou_rotated(bboxes1, bboxes2, mode='iou', aligned=False, clockwise=True)`
///
/// @param bboxes1   Tensor[N, 5] `(x_center, y_center, width, height, angle)`, angle in radians,
///                  float32 or float64.
/// @param bboxes2   Tensor[M, 5] (M == N when aligned), same dtype and device as bboxes1.
/// @param mode      "iou" (intersection / union) or "iof" (intersection / area of bboxes1's box).
/// @param aligned   pair row i of bboxes1 with row i of bboxes2 instead of all pairs.
/// @param clockwise true (MMCV's default): a positive angle turns the box clockwise on screen
///                  (x right, y down); false: counter-clockwise (the angle is negated first).
/// @return Tensor[N, M] (aligned: Tensor[N]) of the input dtype, on the input device.
/// @throws c10::Error for a wrong rank or width, a non-floating dtype, a dtype or device mismatch,
///         N != M when aligned, or an unknown mode.
/// @note A box with w * h < 1e-14 has IoU 0 with every box (MMCV's rule), so degenerate boxes
///       never give NaN; the union is w1*h1 + w2*h2 - I as in MMCV. The intersection is the exact
///       area of the two rectangles' overlap (MMCV's polygon clipping gives the same area up to
///       float rounding, about 1e-6 relative in float32; identical boxes give 1 up to rounding).
///       Non-finite input is not rejected (as in MMCV, docs/nan_policy.md): a pair involving a box
///       with a NaN/Inf value has intersection 0, and NaN in w or h gives NaN (iou: either box,
///       iof: bboxes1's), as MMCV's kernel computes it. MMCV's CPU kernel accepts float32 only;
///       float64 is accepted here. Reads device data: one NaN check of the areas and one
///       candidate count per row tile (CUDA syncs).
///       Memory: the output plus O(2^20) for the candidate mask of a row tile plus O(8192 * 40)
///       per kernel chunk, whatever N and M. Not differentiable (no autograd graph is recorded;
///       MMCV has no backward either).
/// \warning Angles are radians. MMCV's clockwise=True is the convention of mmrotate's `le90`
///          etc.; detectron2's degrees / counter-clockwise boxes need clockwise=false and a
///          degrees-to-radians conversion.
/// Example:
///   auto b1 = at::tensor({10.f, 10.f, 8.f, 4.f, 0.3f}).view({1, 5});
///   auto ious = mmcv::ops::box_iou_rotated(b1, b1);  // [[1.0]]
inline at::Tensor box_iou_rotated(const at::Tensor& bboxes1, const at::Tensor& bboxes2,
                                  const std::string& mode = "iou", bool aligned = false, bool clockwise = true) {
  constexpr const char* op = "box_iou_rotated";
  if (auto empty = detail::check_polygon_iou_args(bboxes1, bboxes2, "5", mode, aligned, op); empty.defined()) {
    return empty;
  }
  at::NoGradGuard no_grad;
  return detail::rotated_overlaps(detail::prepare_rotated(bboxes1, clockwise),
                                  detail::prepare_rotated(bboxes2, clockwise), mode == "iof", aligned);
}

}  // namespace ops
}  // namespace mmcv
