// SPDX-License-Identifier: Apache-2.0
#pragma once
// Bilinear sampling of feature maps at fractional points, written once for every op that needs
// it, with MMCV's two boundary rules (see ../shared/MMCV_OPS.md, "Two different bilinear samplers"):
//
//  * BilinearRule::kRoi  MMCV's `bilinear_interpolate` (roi_align, roi_align_rotated, bezier_align,
//    deform_roi_pool, border_align, rotated_feature_align, riroi_align_rotated): a point with
//    y < -1 or y > H (x likewise) contributes 0; otherwise y <= 0 is clamped to 0 and a point whose
//    floor is >= H-1 sits on row H-1 with all weight there (border replicated inside [-1, H]).
//    Gradients flow to the feature map only (coordinates are treated as constants, as in MMCV).
//  * BilinearRule::kDcn  MMCV's `dmcn_im2col_bilinear` (deform_conv2d, modulated_deform_conv2d,
//    ms_deform_attn): a point is sampled only if -1 < y < H and -1 < x < W; each of its four
//    corners counts only if it lies inside the map (zero padding). Gradients flow to the feature
//    map and to the coordinates (d value / d y, d x), giving MMCV's offset gradients, including 0
//    for points outside the open window (e.g. exactly on y = -1).
//
// Strategy: compute, for every point, the flat indices of its four corners and their weights
// (BilinearTaps), then gather rows of a channels-last view of the map with index_select and
// combine them. Pure ATen: the same code runs on every device, autograd gives the backward
// (index_select's backward is index_add, so the feature gradient scatters like MMCV's atomicAdd).
// Memory: O(P * 4 * C) for P points; callers chunk P to bound it.
// IWYU pragma: private, include <mmcv/ops.hpp> or an op header instead.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <utility>

namespace mmcv {
namespace ops {
namespace detail {

enum class BilinearRule { kRoi, kDcn };

/// Corner indices and weights of points on an H x W map.
struct BilinearTaps {
  /// [..., 4] int64 flat indices y * W + x of the corners (low-low, low-high, high-low, high-high),
  /// always inside [0, H*W) (corners that do not count point at 0 and have weight 0).
  at::Tensor index;
  /// [..., 4] weights, dtype of the coordinates; 0 for corners that do not count.
  at::Tensor weight;
};

/// Corner taps of points (y, x) (same shape, floating) on an H x W map under `rule`.
/// kRoi: weights are computed from detached coordinates (no coordinate gradient, as MMCV).
/// kDcn: weights are differentiable in y and x.
inline BilinearTaps bilinear_taps(const at::Tensor& y_in, const at::Tensor& x_in, int64_t H, int64_t W,
                                  BilinearRule rule) {
  const auto opts_long = y_in.options().dtype(at::kLong);
  if (rule == BilinearRule::kRoi) {
    const auto y0 = y_in.detach();
    const auto x0 = x_in.detach();
    // Points outside [-1, H] x [-1, W] (bounds inclusive) contribute 0.
    const auto inside = (y0 >= -1.0) & (y0 <= static_cast<double>(H)) & (x0 >= -1.0) & (x0 <= static_cast<double>(W));
    auto y = y0.clamp_min(0);
    auto x = x0.clamp_min(0);
    auto y_low = y.floor();  // y >= 0, so floor == (int) truncation as in MMCV
    auto x_low = x.floor();
    // A point whose low row is at or past the last row sits exactly on row H-1.
    const auto y_last = y_low >= static_cast<double>(H - 1);
    const auto x_last = x_low >= static_cast<double>(W - 1);
    y_low = at::where(y_last, at::full_like(y_low, static_cast<double>(H - 1)), y_low);
    x_low = at::where(x_last, at::full_like(x_low, static_cast<double>(W - 1)), x_low);
    y = at::where(y_last, y_low, y);
    x = at::where(x_last, x_low, x);
    const auto y_high = at::where(y_last, y_low, y_low + 1);
    const auto x_high = at::where(x_last, x_low, x_low + 1);
    const auto ly = y - y_low, lx = x - x_low;
    const auto hy = 1 - ly, hx = 1 - lx;
    const auto m = inside.to(y.scalar_type());
    auto weight = at::stack({hy * hx * m, hy * lx * m, ly * hx * m, ly * lx * m}, -1);
    const auto yl = y_low.to(at::kLong), yh = y_high.to(at::kLong);
    const auto xl = x_low.to(at::kLong), xh = x_high.to(at::kLong);
    auto index = at::stack({yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh}, -1);
    // Points outside the window may have produced out-of-range indices: point them at 0.
    index = at::where(inside.unsqueeze(-1), index, at::zeros({}, opts_long));
    return {index, weight};
  }
  // kDcn
  const auto& y = y_in;
  const auto& x = x_in;
  const auto yd = y.detach(), xd = x.detach();
  const auto inside = (yd > -1.0) & (yd < static_cast<double>(H)) & (xd > -1.0) & (xd < static_cast<double>(W));
  const auto y_low = yd.floor(), x_low = xd.floor();
  const auto y_high = y_low + 1, x_high = x_low + 1;
  const auto ly = y - y_low, lx = x - x_low;  // differentiable in y, x
  const auto hy = 1 - ly, hx = 1 - lx;
  const auto yl_ok = (y_low >= 0), xl_ok = (x_low >= 0);
  const auto yh_ok = (y_high <= static_cast<double>(H - 1)), xh_ok = (x_high <= static_cast<double>(W - 1));
  const auto dt = y.scalar_type();
  const auto m1 = (inside & yl_ok & xl_ok).to(dt), m2 = (inside & yl_ok & xh_ok).to(dt);
  const auto m3 = (inside & yh_ok & xl_ok).to(dt), m4 = (inside & yh_ok & xh_ok).to(dt);
  auto weight = at::stack({hy * hx * m1, hy * lx * m2, ly * hx * m3, ly * lx * m4}, -1);
  const auto zero = at::zeros({}, opts_long);
  const auto yl = y_low.clamp(-1, H).to(at::kLong), yh = y_high.clamp(-1, H).to(at::kLong);
  const auto xl = x_low.clamp(-1, W).to(at::kLong), xh = x_high.clamp(-1, W).to(at::kLong);
  auto index = at::stack({at::where(m1 > 0, yl * W + xl, zero), at::where(m2 > 0, yl * W + xh, zero),
                          at::where(m3 > 0, yh * W + xl, zero), at::where(m4 > 0, yh * W + xh, zero)},
                         -1);
  return {index, weight};
}

/// Channels-last rows of a feature map for gathering: [B, C, H, W] -> [B * H * W, C].
inline at::Tensor bilinear_rows(const at::Tensor& input) {
  const auto C = input.size(1);
  return canonical_rows(input.permute({0, 2, 3, 1}).reshape({-1, C}));
}

/// Gather and combine: rows = bilinear_rows(input) ([B*H*W, C]); `row_base` = b * H * W for each
/// point, broadcastable to taps.index without its last dim (e.g. [P, 1] for points [P, S]);
/// returns [..., C] (the points' shape followed by C).
inline at::Tensor bilinear_gather(const at::Tensor& rows, const at::Tensor& row_base, const BilinearTaps& taps) {
  const auto C = rows.size(1);
  const auto flat = (taps.index + row_base.unsqueeze(-1)).reshape({-1});  // [P*S*4]
  auto vals = rows.index_select(0, flat);                                  // [P*S*4, C]
  auto shape = taps.index.sizes().vec();                                   // [..., 4]
  shape.push_back(C);
  vals = vals.view(shape);                                                 // [..., 4, C]
  const auto w = taps.weight.unsqueeze(-1).to(vals.scalar_type());         // [..., 4, 1]
  // MMCV's order: w1*v1 + w2*v2 + w3*v3 + w4*v4.
  return vals.select(-2, 0) * w.select(-2, 0) + vals.select(-2, 1) * w.select(-2, 1) +
         vals.select(-2, 2) * w.select(-2, 2) + vals.select(-2, 3) * w.select(-2, 3);
}

/// Sample input [B, C, H, W] at points (y, x) of shape [P, S...] belonging to images
/// `batch_index` [P] (int64). Returns [P, S..., C]. Coordinates are in pixels of the map
/// (pixel centres at integers).
inline at::Tensor bilinear_sample(const at::Tensor& input, const at::Tensor& batch_index, const at::Tensor& y,
                                  const at::Tensor& x, BilinearRule rule) {
  const auto H = input.size(2), W = input.size(3);
  const auto taps = bilinear_taps(y, x, H, W, rule);
  auto base = batch_index.to(at::kLong) * (H * W);  // [P]
  std::vector<int64_t> bshape(static_cast<size_t>(y.dim()), 1);
  bshape[0] = base.size(0);
  return bilinear_gather(bilinear_rows(input), base.view(bshape), taps);
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
