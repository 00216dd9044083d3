// SPDX-License-Identifier: Apache-2.0
#pragma once
// RoI max pooling. Mirrors mmcv/ops/roi_pool.py: the function mmcv.ops.roi_pool is here; the
// module mmcv.ops.RoIPool is in <mmcv/ops/roi_pool_module.hpp> (it needs LibTorch's torch::nn
// headers, which this header keeps out of your build); the umbrella <mmcv/ops.hpp> includes both.
// MMCV has no CPU kernel for roi_pool: the semantics are those of its CUDA kernel
// (common/cuda/roi_pool_cuda_kernel.cuh), on every device here.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/roi.hpp>
#include <mmcv/ops/detail/roi_autograd.hpp>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Bin edges along one axis, MMCV's CUDA arithmetic in the dtype of rois: bin p spans
/// [floorf(p * bin + start), ceilf((p + 1) * bin + start)) clipped to [0, size] (floorf / ceilf on
/// the float32 value, as MMCV does even for double data). start, bin: [K]. Returns ([K, P], [K, P]) int64.
inline std::pair<at::Tensor, at::Tensor> roi_pool_edges(const at::Tensor& start, const at::Tensor& bin, int64_t P,
                                                        int64_t size) {
  const auto p = at::arange(P, start.options());
  const auto clip = [size](const at::Tensor& v) { return v.clamp(0.0, static_cast<double>(size)).to(at::kLong); };
  const auto lo = clip((p.unsqueeze(0) * bin.unsqueeze(1) + start.unsqueeze(1)).to(at::kFloat).floor());
  const auto hi = clip(((p + 1).unsqueeze(0) * bin.unsqueeze(1) + start.unsqueeze(1)).to(at::kFloat).ceil());
  return {lo, hi};
}

/// Strategy: every non-empty bin is a rectangle of pixels. Bins are grouped by their exact size
/// (h, w); for one group, a strided view of the channels-last map exposes every h x w window as
/// one row, index_select gathers the group's windows ([n, h, w, C], chunked) and a max over the
/// window gives the value (and, when a gradient is needed, the first arg-max in MMCV's row-major
/// order). RoiPoolRoute (detail/roi_autograd.hpp) passes the values through and scatters
/// grad_output to the arg-max pixels in its backward, exactly as MMCV's backward.
inline at::Tensor roi_pool_impl(const at::Tensor& input, const at::Tensor& rois, int64_t PH, int64_t PW,
                                double spatial_scale) {
  const int64_t K = rois.size(0), B = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t nbins = checked_prod({K, PH, PW}, "roi_pool", "the number of bins");  // checked up front too
  const auto r = rois.detach();
  const auto lopt = r.options().dtype(at::kLong);
  const double s = narrow_scale(spatial_scale);
  // MMCV's legacy "+1" on x2 / y2; corners are not rounded (torchvision rounds them).
  const auto x1 = r.select(1, 1) * s, y1 = r.select(1, 2) * s;
  const auto roi_w = (r.select(1, 3) + 1) * s - x1, roi_h = (r.select(1, 4) + 1) * s - y1;
  const auto degenerate = (roi_w <= 0) | (roi_h <= 0);  // [K]: output 0 (MMCV's kernel skips them)
  const auto hedges = roi_pool_edges(y1, roi_h / static_cast<double>(PH), PH, H);
  const auto wedges = roi_pool_edges(x1, roi_w / static_cast<double>(PW), PW, W);
  const auto bh = hedges.second - hedges.first, bw = wedges.second - wedges.first;  // [K, PH], [K, PW]
  const auto batch = roi_batch_index(r);
  const auto nonempty = ((bh > 0).unsqueeze(2) & (bw > 0).unsqueeze(1) & ~degenerate.view({K, 1, 1})).view({-1});
  const auto start = (((batch.unsqueeze(1) * H + hedges.first) * W).unsqueeze(2) + wedges.first.unsqueeze(1)).view({-1});
  const auto key = (bh.unsqueeze(2) * (W + 1) + bw.unsqueeze(1)).view({-1});  // bin size (h, w)

  // Group the non-empty bins by size: two syncs (the bin list and the group sizes).
  const auto ids = nonempty.nonzero().view({-1});
  at::Tensor skeys, perm;
  std::tie(skeys, perm) = key.index_select(0, ids).sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
  const auto ids_sorted = ids.index_select(0, perm);
  const auto starts_sorted = start.index_select(0, ids_sorted);
  at::Tensor ukeys, counts;
  std::tie(ukeys, std::ignore, counts) = at::unique_consecutive(skeys, /*return_inverse=*/false, /*return_counts=*/true);
  const auto groups = at::stack({ukeys, counts}, 1).cpu();  // host-side: one sync for the group sizes
  const auto gacc = groups.accessor<int64_t, 2>();  // host-side: group sizes

  const auto flat = roi_rows(input.detach()).view({-1});  // channels-last values
  const bool need_grad = input.requires_grad() && at::GradMode::is_enabled();
  const bool has_nan = at::isnan(input).any().item<bool>();  // host-side: one sync (NaN policy below)
  // Results in the natural bin order; empty bins and degenerate rois keep value 0 and arg-max
  // B*H*W (a dummy column the backward drops: no gradient).
  const int64_t BHW = B * H * W;
  auto vals = at::zeros({nbins, C}, input.options());
  auto args = need_grad ? at::full({nbins, C}, BHW, lopt) : at::Tensor();
  int64_t offset = 0;
  for (int64_t gi = 0; gi < groups.size(0); ++gi) {  // host-side: loop over bin-size groups
    const int64_t h = gacc[gi][0] / (W + 1), w = gacc[gi][0] % (W + 1), n = gacc[gi][1];
    // Every h x w window as one row of h segments of w*C contiguous values (no copy).
    const auto windows = flat.as_strided({BHW - (h - 1) * W - (w - 1), h, w * C}, {C, W * C, 1});
    const int64_t step = std::max<int64_t>(1, kRoiChunkBudget / checked_prod({h, w, C}, "roi_pool", "bin area * C"));
    // Window index y * w + x -> pixel offset y * W + x from the bin's first pixel (a tiny table).
    const auto local = at::arange(h * w, lopt);
    const auto local_off = need_grad ? local.div(w, "floor") * W + local.remainder(w) : at::Tensor();
    for (int64_t b0 = 0; b0 < n; b0 += step) {  // host-side: chunks of one group (bounded memory)
      const int64_t m = std::min(step, n - b0);
      const auto st = starts_sorted.narrow(0, offset + b0, m);
      const auto ids = ids_sorted.narrow(0, offset + b0, m);
      auto g = windows.index_select(0, st).view({m, h * w, C});
      // MMCV's `x > max_val` never picks NaN: make NaN the lowest value.
      if (has_nan) g.nan_to_num_(-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity());
      if (!need_grad) {
        vals.index_copy_(0, ids, at::amax(g, 1));  // [m, C]
        continue;
      }
      // First maximum in row-major order (MMCV's strict >): max_pool2d_with_indices over the whole
      // window, on the channels-last view [m, C, h, w] of the gathered windows (ATen's vectorised
      // channels-last kernel; several times faster than an index-tracking at::max over dim 1).
      at::Tensor v, a;
      std::tie(v, a) = at::max_pool2d_with_indices(g.view({m, h, w, C}).permute({0, 3, 1, 2}), {h, w}, {h, w});
      vals.index_copy_(0, ids, v.view({m, C}));
      const auto off = local_off.index_select(0, a.reshape({-1})).view({m, C});
      args.index_copy_(0, ids, st.unsqueeze(1) + off);
    }
    offset += n;
  }
  // MMCV starts every bin at -FLT_MAX with a strict >: the output never goes below it, and a bin
  // whose values are all <= -FLT_MAX (or NaN) has no arg-max.
  const double lowest = -static_cast<double>(FLT_MAX);
  if (need_grad) args.masked_fill_(vals <= lowest, BHW);
  vals.clamp_min_(lowest);
  if (need_grad) {
    // MMCV quirk, reproduced: the argmax buffer of a degenerate roi is never written and keeps the
    // 0 it was allocated with, so MMCV's backward adds grad_output to pixel (0, 0) of the roi's
    // image although the output is 0.
    if (degenerate.any().item<bool>()) {  // host-side: rare path, one sync
      const auto deg = degenerate.view({K, 1}).expand({K, PH * PW}).reshape({nbins, 1});
      const auto pix0 = (batch * (H * W)).view({K, 1}).expand({K, PH * PW}).reshape({nbins, 1});
      args = at::where(deg, pix0, args);
    }
    vals = RoiPoolRoute::apply(input, vals, args);
  }
  return vals.view({K, PH, PW, C}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace detail

/// RoI Pool: max of the feature-map pixels in each of oh x ow bins of every RoI (Fast R-CNN).
///
/// MMCV: `mmcv.ops.roi_pool(input, rois, output_size, spatial_scale=1.0)` (CUDA kernel semantics;
///        MMCV itself has no CPU kernel for it)
///
/// @param input          Tensor[B, C, H, W], float32 or float64 (float16/bfloat16 are computed in
///                       float32 and returned in their dtype). H and W must be positive.
/// @param rois           Tensor[K, 5] `(batch_index, x1, y1, x2, y2)` in input-image coordinates,
///                       same dtype and device as input; batch_index truncated to an integer, in [0, B).
/// @param output_size    `oh` or `{oh, ow}`, positive.
/// @param spatial_scale  image-to-map scale (e.g. 1/16), used as float32 like MMCV.
/// @return Tensor[K, C, oh, ow], dtype and device of input, contiguous.
/// @throws c10::Error: input not 4-D, rois not [K, 5], non-floating or mismatched dtype, device
///         mismatch, output_size not positive or of more than 2 values, spatial_scale not finite
///         (as float32), H or W = 0, non-finite rois, batch index out of range.
/// @note MMCV's CUDA semantics: the roi spans x1*s .. (x2+1)*s (legacy "+1", corners not rounded;
///       torchvision.ops.roi_pool rounds them and differs unless corners*s are integers); bin p
///       covers pixels floor(p*bin + start) .. ceil((p+1)*bin + start) clipped to the map, so
///       neighbouring bins may share a row or column; an empty bin gives 0; a roi with w or h <= 0
///       gives 0; the max is the first strict maximum in row-major order and never goes below
///       -FLT_MAX; NaN pixels are skipped (MMCV's `>` never picks them).
/// @note Gradients flow to `input` only, to the arg-max pixel of each bin and channel (MMCV's
///       backward). MMCV quirk reproduced: for a roi with w or h <= 0, whose output is 0, MMCV's
///       never-written argmax buffer holds 0, so grad_output reaches pixel (0, 0) of its image.
/// @note Synchronises a few times per call (rois validation, grouping bins by size, a NaN scan).
///       Memory: the output plus chunks of gathered windows of at most ~4M values (a single bin
///       larger than that is gathered alone), independent of K * H * W.
/// Example:
///   auto out = mmcv::ops::roi_pool(feats, rois, {7, 7}, /*spatial_scale=*/0.0625);  // [K, C, 7, 7]
inline at::Tensor roi_pool(const at::Tensor& input, const at::Tensor& rois, at::IntArrayRef output_size,
                           double spatial_scale = 1.0) {
  constexpr const char* op = "roi_pool";
  const auto out_hw = detail::check_roi_args(input, rois, output_size, spatial_scale, op);
  const auto st = input.scalar_type();
  if (st == at::kHalf || st == at::kBFloat16)  // computed in float32, returned in the input's dtype
    return roi_pool(input.to(at::kFloat), rois.to(at::kFloat), output_size, spatial_scale).to(st);
  const int64_t K = rois.size(0);
  detail::check_roi_values(rois, input.size(0), op);
  if (K == 0 || input.size(1) == 0) return detail::roi_empty_result(input, K, out_hw.first, out_hw.second);
  return detail::roi_pool_impl(input, rois, out_hw.first, out_hw.second, spatial_scale);
}

}  // namespace ops
}  // namespace mmcv
