// SPDX-License-Identifier: Apache-2.0
#pragma once
// Rotated RoI Align. Mirrors mmcv/ops/roi_align_rotated.py: the function
// mmcv.ops.roi_align_rotated is here; the module mmcv.ops.RoIAlignRotated is in
// <mmcv/ops/roi_align_rotated_module.hpp> (it needs LibTorch's torch::nn headers, which this
// header keeps out of your build); the umbrella <mmcv/ops.hpp> includes both.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/bilinear.hpp>
#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/roi.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Sampled points one chunk of roi_align_rotated may hold (each has 4 taps and a dozen
/// temporaries); a chunk holds at least one bin row of one RoI.
inline constexpr int64_t kRoiAlignRotatedChunkSamples = int64_t{1} << 18;

/// Geometry of every rotated RoI in MMCV's arithmetic (cpu/roi_align_rotated.cpp), dtype of rois.
/// Every member is [K].
struct RoiAlignRotatedGeometry {
  at::Tensor batch;           // int64 image index (truncated like MMCV's int conversion)
  at::Tensor center_h, center_w;  // roi_center_h, roi_center_w (aligned: -0.5)
  at::Tensor roi_h, roi_w;    // roi_height, roi_width (clamped to >= 1 when !aligned)
  at::Tensor cos, sin;        // of theta (negated when clockwise)
  at::Tensor bin_h, bin_w;    // bin_size_h, bin_size_w
  at::Tensor grid_h, grid_w;  // int64 samples per bin along y / x (0 for an empty adaptive roi)
};

inline RoiAlignRotatedGeometry roi_align_rotated_geometry(const at::Tensor& rois, int64_t PH, int64_t PW,
                                                          double spatial_scale, int64_t sampling_ratio, bool aligned,
                                                          bool clockwise) {
  const auto r = rois.detach();
  const double s = narrow_scale(spatial_scale);
  const double offset = aligned ? 0.5 : 0.0;
  RoiAlignRotatedGeometry g;
  g.batch = roi_batch_index(r);
  // "Do not use rounding; this implementation detail is critical" (MMCV).
  g.center_w = r.select(1, 1) * s - offset;
  g.center_h = r.select(1, 2) * s - offset;
  g.roi_w = r.select(1, 3) * s;
  g.roi_h = r.select(1, 4) * s;
  // MMCV: T cos_theta = cos(theta), theta in T: evaluated in double and rounded to T here, the
  // correctly rounded value (libm's cosf / sinf), so sample coordinates match MMCV's to the bit.
  const auto theta = (clockwise ? -r.select(1, 5) : r.select(1, 5)).to(at::kDouble);
  g.cos = theta.cos().to(r.scalar_type());
  g.sin = theta.sin().to(r.scalar_type());
  fill_roi_bins(g, PH, PW, sampling_ratio, aligned);
  return g;
}

/// Average-pooled values of the bins of units [u0, u1), a unit being one bin row (roi k = u / PH,
/// row ph = u % PH): [(u1 - u0) * PW, C]. Every sample y = yy cos - xx sin + cy,
/// x = yy sin + xx cos + cx (MMCV's rotation and evaluation order) is read with MMCV's RoI
/// bilinear rule; the weighted taps of a bin are summed by embedding_bag (sum mode, per-sample
/// weights; padding samples dropped), then divided by max(grid_h * grid_w, 1).
inline at::Tensor roi_align_rotated_chunk(const at::Tensor& rows, const RoiAlignRotatedGeometry& g, int64_t H,
                                          int64_t W, int64_t PH, int64_t PW, int64_t u0, int64_t u1, int64_t Gh,
                                          int64_t Gw) {
  const auto lopt = g.batch.options();
  const auto units = at::arange(u0, u1, lopt);
  const auto k = units.div(PH, "floor"), ph = units.remainder(PH);
  const int64_t U = u1 - u0;
  const auto sel = [&](const at::Tensor& t) { return t.index_select(0, k); };
  const auto gh = sel(g.grid_h), gw = sel(g.grid_w), bin_h = sel(g.bin_h), bin_w = sel(g.bin_w);
  const auto dt = bin_h.scalar_type();
  const auto fopt = bin_h.options();
  // yy[u, iy] = roi_start_h + ph * bin_h + (iy + .5) * bin_h / grid_h; roi_start = -size / 2.
  const auto start_h = (sel(g.roi_h) / -2.0 + ph.to(dt) * bin_h).unsqueeze(1);                        // [U, 1]
  const auto yy = start_h + (at::arange(Gh, fopt) + 0.5).unsqueeze(0) * bin_h.unsqueeze(1) /
                                gh.clamp_min(1).to(dt).unsqueeze(1);                                  // [U, Gh]
  const auto start_w = (sel(g.roi_w) / -2.0).view({U, 1, 1}) +
                       at::arange(PW, fopt).view({1, PW, 1}) * bin_w.view({U, 1, 1});                 // [U, PW, 1]
  const auto xx = start_w + ((at::arange(Gw, fopt) + 0.5).view({1, 1, Gw}) * bin_w.view({U, 1, 1})) /
                                gw.clamp_min(1).to(dt).view({U, 1, 1});                               // [U, PW, Gw]
  const auto c = sel(g.cos).view({U, 1, 1, 1}), s = sel(g.sin).view({U, 1, 1, 1});
  const auto yv = yy.view({U, 1, Gh, 1}), xv = xx.view({U, PW, 1, Gw});
  const auto y = (yv * c - xv * s) + sel(g.center_h).view({U, 1, 1, 1});  // [U, PW, Gh, Gw]
  const auto x = (yv * s + xv * c) + sel(g.center_w).view({U, 1, 1, 1});
  const auto taps = bilinear_taps(y, x, H, W, BilinearRule::kRoi);  // [U, PW, Gh, Gw, 4]
  const auto real = (at::arange(Gh, lopt).view({1, 1, Gh, 1}) < gh.view({U, 1, 1, 1})) &
                    (at::arange(Gw, lopt).view({1, 1, 1, Gw}) < gw.view({U, 1, 1, 1}));  // padding samples
  // The taps MMCV's CPU kernel reads: all 4 of every real sample, zero weights included
  // (0 * NaN = NaN); a sample outside [-1, H] x [-1, W] reads pixel (0, 0) of its image with
  // weight 0 (MMCV's pre_calc; bilinear_taps points it there). Padding samples read nothing.
  const auto idx = taps.index + (sel(g.batch) * (H * W)).view({U, 1, 1, 1, 1});
  const auto w = taps.weight;
  const auto nz = real.unsqueeze(4).expand_as(w);
  const auto counts = nz.sum({2, 3, 4}).view({-1});  // taps per bin [U * PW]
  const auto offsets = counts.cumsum(0) - counts;
  // masked_select sizes its result from the mask: one device sync per chunk.
  auto out = std::get<0>(at::embedding_bag(rows, idx.masked_select(nz), offsets, /*scale_grad_by_freq=*/false,
                                           /*mode=*/0, /*sparse=*/false, w.masked_select(nz),
                                           /*include_last_offset=*/false));  // [U * PW, C]
  const auto count = (gh * gw).clamp_min(1).to(out.scalar_type());  // MMCV: max(grid_h * grid_w, 1)
  return out / count.repeat_interleave(PW).unsqueeze(1);
}

inline at::Tensor roi_align_rotated_impl(const at::Tensor& input, const at::Tensor& rois, int64_t PH, int64_t PW,
                                         double spatial_scale, int64_t sampling_ratio, bool aligned, bool clockwise) {
  constexpr const char* op = "roi_align_rotated";
  const int64_t K = rois.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const auto g = roi_align_rotated_geometry(rois, PH, PW, spatial_scale, sampling_ratio, aligned, clockwise);
  // One sync: per-RoI sampling grids for chunk planning, plus MMCV's non-negative-size assertion.
  const auto neg = aligned ? ((g.roi_w < 0) | (g.roi_h < 0)).to(at::kLong) : at::zeros_like(g.batch);
  const auto bad = scaled_roi_not_finite({g.center_h, g.center_w, g.roi_h, g.roi_w, g.bin_h, g.bin_w});
  const auto stats = at::stack({g.grid_h, g.grid_w, neg, bad}, 1).cpu();  // host-side: planning copy
  const auto acc = stats.accessor<int64_t, 2>();  // host-side: planning copy, K rows
  bool any_negative = false, any_overflow = false;
  for (int64_t k = 0; k < K; ++k) {  // host-side: per-RoI flags (K small rows)
    any_negative = any_negative || acc[k][2] != 0;
    any_overflow = any_overflow || acc[k][3] != 0;
  }
  check_scaled_rois_finite(any_overflow, op);
  // Per-RoI cost of one bin row (unit), checked against the stated maximum.
  std::vector<int64_t> unit_cost(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) {  // host-side: per-RoI planning sizes
    const int64_t c = checked_prod({PW, std::max<int64_t>(acc[k][0], 1), std::max<int64_t>(acc[k][1], 1)}, op,
                                   "samples per bin row output_size * grid_h * grid_w");
    check_roi_samples(c, op, "samples of one bin row (ow * grid_h * grid_w)");
    unit_cost[static_cast<size_t>(k)] = c;
  }
  if (any_negative) {
    const double worst = at::minimum(g.roi_w, g.roi_h).min().item<double>();  // host-side: error path only
    check_in_range(worst, 0.0, std::numeric_limits<double>::infinity(), op,
                   "the scaled width and height of every roi (aligned=True)");
  }
  const auto rows = roi_rows(input);  // [B*H*W, C], differentiable
  // Chunks of units (bin rows u = k * PH + ph), planned per RoI since the PH units of a RoI share
  // its grid: a chunk pads its units to its maxima (Gh, Gw) and holds at most
  // kRoiAlignRotatedChunkSamples samples, or one unit. Host work O(K + chunks), no K * PH table.
  std::vector<at::Tensor> outs;
  int64_t u0 = 0, n = 0, Gh = 1, Gw = 1;
  const auto flush = [&]() {
    if (n > 0) outs.push_back(roi_align_rotated_chunk(rows, g, H, W, PH, PW, u0, u0 + n, Gh, Gw));
    u0 += n, n = 0, Gh = 1, Gw = 1;
  };
  for (int64_t k = 0; k < K; ++k) {  // host-side: chunk planning loop over RoIs
    const int64_t gh = std::max<int64_t>(acc[k][0], 1), gw = std::max<int64_t>(acc[k][1], 1);
    int64_t left = PH;
    while (left > 0) {  // host-side: this RoI's units, a chunk at a time
      const int64_t per_unit = PW * std::max(Gh, gh) * std::max(Gw, gw);  // <= kRoiMaxSamples (checked)
      const int64_t room = kRoiAlignRotatedChunkSamples / per_unit - n;
      if (room <= 0 && n > 0) {
        flush();
        continue;
      }
      const int64_t take = std::min(left, std::max<int64_t>(room, 1));
      Gh = std::max(Gh, gh), Gw = std::max(Gw, gw);
      n += take, left -= take;
    }
  }
  flush();
  auto out = outs.size() == 1 ? outs.front() : at::cat(outs, 0);  // [K*PH*PW, C]
  out = roi_keep_on_graph(out, rows, input.requires_grad() && at::GradMode::is_enabled());
  return out.view({K, PH, PW, C}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace detail

/// RoI Align for rotated RoIs: bilinearly sampled average pooling of each rotated box into a
/// fixed grid.
///
/// MMCV: `mmcv.ops.roi_align_rotated(input, rois, output_size, spatial_scale, sampling_ratio=0,
///        aligned=True, clockwise=False)` (RoIAlignRotatedFunction.apply)
///
/// @param input          Tensor[B, C, H, W], float32 or float64 (float16/bfloat16 are computed in
///                       float32 and returned in their dtype). H and W must be positive.
/// @param rois           Tensor[K, 6] `(batch_index, x_center, y_center, width, height, angle)`,
///                       image coordinates, angle in radians; same dtype and device as input.
///                       batch_index is truncated to an integer and must lie in [0, B).
/// @param output_size    `oh` or `{oh, ow}`, positive.
/// @param spatial_scale  factor from image to feature-map coordinates (e.g. 1/8); used as float32,
///                       like MMCV. MMCV's Function has no default; 1.0 here, as roi_align's.
/// @param sampling_ratio samples per bin along each axis; 0 = adaptive, ceil(roi_size / output
///                       size) per RoI.
/// @param aligned        true: the scaled centre is shifted by -0.5 pixel (the size is not) and
///                       sizes must be non-negative; false: legacy, roi w, h clamped to >= 1.
/// @param clockwise      false (MMCV's default here, unlike box_iou_rotated): a positive angle
///                       turns the box counter-clockwise on screen; true negates the angle.
/// @return Tensor[K, C, oh, ow], dtype and device of input, contiguous.
/// @throws c10::Error: input not 4-D, rois not [K, 6], non-floating or mismatched dtype, device
///         mismatch, output_size not positive or of more than 2 values, negative sampling_ratio,
///         spatial_scale not finite (as float32), H or W = 0, non-finite rois, batch index out of
///         range, a negative scaled roi size with aligned=True (MMCV asserts).
/// @note Sample (yy, xx) of bin (ph, pw) in the RoI frame (yy = -h/2 + ph * bin_h +
///       (iy + 0.5) * bin_h / grid_h, xx likewise) is read at y = yy cos - xx sin + cy,
///       x = yy sin + xx cos + cx, with MMCV's RoI bilinear rule (a sample with y < -1 or y > H,
///       x likewise, contributes 0; otherwise it is clamped into the map). Bin value = sum of its
///       samples / max(grid_h * grid_w, 1), so an empty adaptive RoI gives 0. Only average
///       pooling exists (as in MMCV).
/// @note Gradients flow to `input` only (rois get none, as in MMCV): each sample's gradient is
///       spread over its 4 taps / count, MMCV's backward. Synchronises with the device a few
///       times per call (rois validation, chunk planning, one count per chunk). Memory: the
///       output plus chunks of at most 2^18 sampled points (or one bin row of one RoI:
///       ow * grid_h * grid_w points, if larger), never O(points * C).
/// Example:
///   auto feats = at::randn({1, 256, 100, 152});
///   auto rois = at::tensor({0., 400., 300., 160., 80., 0.5}).view({1, 6});
///   auto out = mmcv::ops::roi_align_rotated(feats, rois, {7, 7}, /*spatial_scale=*/0.125,
///                                           /*sampling_ratio=*/2);  // [1, 256, 7, 7]
inline at::Tensor roi_align_rotated(const at::Tensor& input, const at::Tensor& rois, at::IntArrayRef output_size,
                                    double spatial_scale = 1.0, int64_t sampling_ratio = 0, bool aligned = true,
                                    bool clockwise = false) {
  constexpr const char* op = "roi_align_rotated";
  detail::check_dim(input, 4, op, "input");
  detail::ShapeChecker(op).check(rois, "rois", {"K", "6"});
  detail::check_floating(input, op, "input", /*allow_half=*/true);
  detail::check_same_dtype(input, rois, op, "input", "rois");
  detail::check_same_device(input, rois, op, "input", "rois");
  const auto out_hw = detail::pair_arg(output_size, op, "output_size");
  detail::check_positive(out_hw.first, op, "output_size");
  detail::check_positive(out_hw.second, op, "output_size");
  detail::check_finite_scalar(static_cast<float>(spatial_scale), op, "spatial_scale");
  detail::check_non_negative(sampling_ratio, op, "sampling_ratio");
  detail::check_positive(input.size(2), op, "input height");
  detail::check_positive(input.size(3), op, "input width");
  detail::checked_prod({rois.size(0), out_hw.first, out_hw.second}, op, "the number of bins rois.size(0) * output_size");
  detail::check_can_allocate({rois.size(0), input.size(1), out_hw.first, out_hw.second}, input.options(), op,
                             "the output [K, C, oh, ow] =");
  const auto st = input.scalar_type();
  if (st == at::kHalf || st == at::kBFloat16)  // computed in float32, returned in the input's dtype
    return roi_align_rotated(input.to(at::kFloat), rois.to(at::kFloat), output_size, spatial_scale, sampling_ratio,
                             aligned, clockwise)
        .to(st);
  const int64_t K = rois.size(0);
  detail::check_roi_values(rois, input.size(0), op);
  if (K == 0 || input.size(1) == 0) return detail::roi_empty_result(input, K, out_hw.first, out_hw.second);
  return detail::roi_align_rotated_impl(input, rois, out_hw.first, out_hw.second, spatial_scale, sampling_ratio,
                                        aligned, clockwise);
}

}  // namespace ops
}  // namespace mmcv
