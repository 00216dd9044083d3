// SPDX-License-Identifier: Apache-2.0
#pragma once
// IoU of quadrilaterals. Mirrors mmcv/ops/box_iou_quadri.py (mmcv.ops.box_iou_quadri).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/polygon.hpp>

#include <string>

namespace mmcv {
namespace ops {

/// Intersection over union (or over the first quad's area) of quadrilaterals, with MMCV's rule.
///
/// MMCV: `mmcv.ops.box_iou_quadri(bboxes1, bboxes2, mode='iou', aligned=False)`
///
/// @param bboxes1 Tensor[N, 8] `(x1, y1, x2, y2, x3, y3, x4, y4)`, the 4 vertices in boundary
///                order (either direction), float32 or float64.
/// @param bboxes2 Tensor[M, 8] (M == N when aligned), same dtype and device as bboxes1.
/// @param mode    "iou" (intersection / union) or "iof" (intersection / area of bboxes1's quad).
/// @param aligned pair row i of bboxes1 with row i of bboxes2 instead of all pairs.
/// @return Tensor[N, M] (aligned: Tensor[N]) of the input dtype, on the input device.
/// @throws c10::Error for a wrong rank or width, a non-floating dtype, a dtype or device mismatch,
///         N != M when aligned, or an unknown mode.
/// @note MMCV's rule, reproduced exactly (it is what MMCV's nms_quadri keeps and drops): the
///       pair is shifted by the mean of its 8 points; each area is the fan from vertex 0 with
///       |cross| per triangle (quads below 1e-14 have IoU 0); the intersection is the convex hull
///       of the 16 edge-edge crossings plus the vertices of each quad that pass the other's
///       "parallelogram" test (0 <= AP.AB <= |AB|^2 and 0 <= AP.AD <= |AD|^2 with A, B, D its
///       vertices 1, 2, 4). For rectangles and parallelograms with right angles this is the
///       exact overlap; for other quads it is MMCV's approximation, not the true overlap (e.g. it
///       can miss a vertex inside a skewed quad, or count one outside it). Point order and
///       orientation do not matter; non-convex quads follow the same rule (hull of candidates).
///       Non-finite input is not rejected (as in MMCV, docs/nan_policy.md): every pair involving a
///       quad with a NaN/Inf coordinate is NaN, as MMCV computes it (the pair's centre shift and
///       hence both areas are NaN). MMCV's CPU kernel accepts float32 only; float64 is accepted
///       here. Reads device data: one finiteness check, one candidate count per row tile and per
///       hull pruning pass (CUDA syncs). Memory: the output plus O(2^20) per row tile plus O(8192 * 150) per
///       kernel chunk, whatever N and M. Not differentiable (no graph is recorded; MMCV has no
///       backward either).
/// \warning MMCV's Graham scan sorts with a 1e-6 collinearity tolerance and can collapse when
///          several candidate points lie within ~1e-4 of each other at the lowest point (rare,
///          self-intersecting input); the exact hull is used here, so such pairs may differ.
/// Example:
///   auto q = at::tensor({0.f, 0.f, 0.f, 2.f, 2.f, 2.f, 2.f, 0.f}).view({1, 8});
///   auto ious = mmcv::ops::box_iou_quadri(q, q);  // [[1.0]]
inline at::Tensor box_iou_quadri(const at::Tensor& bboxes1, const at::Tensor& bboxes2,
                                 const std::string& mode = "iou", bool aligned = false) {
  constexpr const char* op = "box_iou_quadri";
  if (auto empty = detail::check_polygon_iou_args(bboxes1, bboxes2, "8", mode, aligned, op); empty.defined()) {
    return empty;
  }
  at::NoGradGuard no_grad;
  return detail::quadri_overlaps(detail::prepare_quadri(bboxes1), detail::prepare_quadri(bboxes2), mode == "iof",
                                 aligned);
}

}  // namespace ops
}  // namespace mmcv
