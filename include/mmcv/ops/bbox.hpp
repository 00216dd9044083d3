// SPDX-License-Identifier: Apache-2.0
#pragma once
// Axis-aligned box overlaps. Mirrors mmcv/ops/bbox.py (mmcv.ops.bbox_overlaps).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/box_geometry.hpp>
#include <mmcv/ops/detail/check.hpp>

#include <string>

namespace mmcv {
namespace ops {

namespace detail {
inline at::Tensor bbox_overlaps_impl(const at::Tensor& bboxes1, const at::Tensor& bboxes2,
                                     const std::string& mode, bool aligned, int64_t offset) {
  constexpr const char* op = "bbox_overlaps";
  TORCH_CHECK_VALUE(bboxes1.dim() >= 2, op, ": expected bboxes1 to have shape [..., m, 4], but got ",
                    detail::shape_str(bboxes1.sizes()));
  TORCH_CHECK_VALUE(bboxes2.dim() >= 2, op, ": expected bboxes2 to have shape [..., n, 4], but got ",
                    detail::shape_str(bboxes2.sizes()));
  detail::ShapeChecker sc(op);
  sc.check(bboxes1, "bboxes1", {"...", "m", "4"});
  sc.check(bboxes2, "bboxes2", {"...", aligned ? "m" : "n", "4"});
  TORCH_CHECK_VALUE(bboxes1.sizes().slice(0, bboxes1.dim() - 2) == bboxes2.sizes().slice(0, bboxes2.dim() - 2),
                    op, ": expected bboxes2 to have the same batch dims as bboxes1 (",
                    detail::shape_str(bboxes1.sizes().slice(0, bboxes1.dim() - 2)), "), but got ",
                    detail::shape_str(bboxes2.sizes().slice(0, bboxes2.dim() - 2)));
  detail::check_floating(bboxes1, op, "bboxes1", /*allow_half=*/true);
  detail::check_same_dtype(bboxes1, bboxes2, op, "bboxes1", "bboxes2");
  detail::check_same_device(bboxes1, bboxes2, op, "bboxes1", "bboxes2");
  {  // The result's size is known up front (m * n can overflow for expanded inputs).
    auto out_sizes = bboxes1.sizes().slice(0, bboxes1.dim() - 1).vec();
    if (!aligned) out_sizes.push_back(bboxes2.size(-2));
    detail::check_can_allocate(out_sizes, bboxes1.options(), op, "the output");
  }
  const auto st = bboxes1.scalar_type();
  if (st == at::kHalf || st == at::kBFloat16)  // computed in float32 (ATen's CPU clamp has no Half), rounded once
    return bbox_overlaps_impl(bboxes1.to(at::kFloat), bboxes2.to(at::kFloat), mode, aligned, offset).to(st);

  const bool iou = mode == "iou";
  if (aligned) {
    // Row i against row i: every intermediate is [..., m].
    const auto inter = detail::box_intersection_area(bboxes1, bboxes2, static_cast<double>(offset));
    const auto area1 = detail::box_area(bboxes1, static_cast<double>(offset));
    if (!iou) return inter / area1;
    const auto area2 = detail::box_area(bboxes2, static_cast<double>(offset));
    return inter / (area1 + area2 - inter);
  }
  // All pairs: broadcast [..., m, 1, 4] against [..., 1, n, 4] -> [..., m, n].
  const auto b1 = bboxes1.unsqueeze(-2);  // [..., m, 1, 4]
  const auto b2 = bboxes2.unsqueeze(-3);  // [..., 1, n, 4]
  const auto inter = detail::box_intersection_area(b1, b2, static_cast<double>(offset));  // [..., m, n]
  const auto area1 = detail::box_area(bboxes1, static_cast<double>(offset)).unsqueeze(-1);  // [..., m, 1]
  if (!iou) return inter / area1;
  const auto area2 = detail::box_area(bboxes2, static_cast<double>(offset)).unsqueeze(-2);  // [..., 1, n]
  return inter / (area1 + area2 - inter);
}
}  // namespace detail

/// Overlap (IoU or IoF) between two sets of axis-aligned boxes.
///
/// MMCV: `mmcv.ops.bbox_overlaps(bboxes1, bboxes2, mode='iou', aligned=False, offset=0)`
///
/// @param bboxes1 Tensor[..., m, 4] `(x1, y1, x2, y2)`, float32 or float64 (float16/bfloat16 are
///                computed in float32 and returned in their dtype, on every device). Leading
///                batch dims are optional and must equal bboxes2's.
/// @param bboxes2 Tensor[..., n, 4], same dtype and device as bboxes1.
/// @param mode    "iou" (intersection over union) or "iof" (intersection over bboxes1's area).
/// @param aligned if true, pair row i of bboxes1 with row i of bboxes2 (m must equal n).
/// @param offset  0, or 1 for the legacy "+1" box convention (w = x2 - x1 + 1).
/// @return Tensor[..., m, n] (aligned: Tensor[..., m], not [m, 1]), dtype of the inputs.
/// @throws c10::Error on a wrong shape, unknown mode, offset not in {0, 1}, dtype or device mismatch.
/// @note Like MMCV's CPU kernel there is no epsilon: a pair whose union (iou) or bboxes1 area (iof)
///       is 0 gives 0/0 = NaN. Memory: the output plus O(m*n) temporaries of the same size.
///       Differentiable through autograd (MMCV has no backward for this op).
/// Example:
///   auto ious = mmcv::ops::bbox_overlaps(b1, b2);                  // [m, n]
///   auto iof  = mmcv::ops::bbox_overlaps(b1, b2, "iof", /*aligned=*/true);  // [m]
inline at::Tensor bbox_overlaps(const at::Tensor& bboxes1, const at::Tensor& bboxes2,
                                const std::string& mode = "iou", bool aligned = false, int64_t offset = 0) {
  constexpr const char* op = "bbox_overlaps";
  detail::check_one_of(mode, {"iou", "iof"}, op, "mode");
  detail::check_one_of(offset, {0, 1}, op, "offset");
  // Like MMCV, an empty 1-D tensor (torch.FloatTensor([])) or a 2-D tensor with 0 rows and any
  // number of columns means "no boxes".
  const auto as_boxes = [](const at::Tensor& b) {
    const bool no_boxes = (b.dim() == 1 && b.numel() == 0) || (b.dim() == 2 && b.size(0) == 0);
    return no_boxes ? b.reshape({0, 4}) : b;
  };
  return detail::bbox_overlaps_impl(as_boxes(bboxes1), as_boxes(bboxes2), mode, aligned, offset);
}

}  // namespace ops
}  // namespace mmcv
