// SPDX-License-Identifier: Apache-2.0
#pragma once
// Axis-aligned box geometry shared by bbox_overlaps, the NMS family and batched ops.
// Boxes are (x1, y1, x2, y2) in the last dim; `offset` is MMCV's legacy "+1" (0 or 1).
// IWYU pragma: private, include <mmcv/ops.hpp> or an op header instead.

#include <ATen/ATen.h>

namespace mmcv {
namespace ops {
namespace detail {

/// (x2 - x1 + offset) * (y2 - y1 + offset) over the last dim: [..., 4] -> [...].
/// Evaluated in MMCV's order so float32 results round identically.
inline at::Tensor box_area(const at::Tensor& b, double offset) {
  auto w = b.select(-1, 2) - b.select(-1, 0);
  auto h = b.select(-1, 3) - b.select(-1, 1);
  if (offset != 0) {
    w = w + offset;
    h = h + offset;
  }
  return w * h;
}

/// Intersection area of broadcastable box tensors: [..., 4] x [..., 4] -> [...].
/// w = (min(x2) - max(x1) + offset).clamp_min(0), likewise h; area = w * h (MMCV's order).
inline at::Tensor box_intersection_area(const at::Tensor& a, const at::Tensor& b, double offset) {
  auto x1 = at::maximum(a.select(-1, 0), b.select(-1, 0));
  auto y1 = at::maximum(a.select(-1, 1), b.select(-1, 1));
  auto x2 = at::minimum(a.select(-1, 2), b.select(-1, 2));
  auto y2 = at::minimum(a.select(-1, 3), b.select(-1, 3));
  auto w = x2 - x1;
  auto h = y2 - y1;
  if (offset != 0) {
    w = w + offset;
    h = h + offset;
  }
  return w.clamp_min(0) * h.clamp_min(0);
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
