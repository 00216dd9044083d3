// SPDX-License-Identifier: Apache-2.0
#pragma once
// RoI Align. Mirrors mmcv/ops/roi_align.py: the function mmcv.ops.roi_align is here; the module
// mmcv.ops.RoIAlign is in <mmcv/ops/roi_align_module.hpp> (it needs LibTorch's torch::nn headers,
// which this header keeps out of your build); the umbrella <mmcv/ops.hpp> includes both.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/bilinear.hpp>
#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/roi.hpp>
#include <mmcv/ops/detail/roi_autograd.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// MMCV's CPU kernel starts each max-pooled bin at this value (strict >), so max-mode outputs never
/// go below it and a bin whose samples are all <= it gets no gradient (MMCV's CUDA kernel uses
/// -FLT_MAX instead; we follow the CPU kernel, which produced the reference data).
inline constexpr double kRoiAlignMaxInit = -10000.0;

/// Geometry of every RoI in MMCV's arithmetic (cpu/roi_align.cpp, roi_align_cuda_kernel.cuh), in
/// the dtype of rois. Every member is [K].
struct RoiAlignGeometry {
  at::Tensor batch;             // int64 image index (truncated like MMCV's int conversion)
  at::Tensor start_h, start_w;  // roi_start_h, roi_start_w
  at::Tensor roi_h, roi_w;      // roi_height, roi_width (clamped to >= 1 when !aligned)
  at::Tensor bin_h, bin_w;      // bin_size_h, bin_size_w
  at::Tensor grid_h, grid_w;    // int64 sampling points per bin along y / x (0 for an empty adaptive roi)

  RoiAlignGeometry slice(int64_t begin, int64_t end) const {
    auto s = [&](const at::Tensor& t) { return t.slice(0, begin, end); };
    return {s(batch), s(start_h), s(start_w), s(roi_h), s(roi_w), s(bin_h), s(bin_w), s(grid_h), s(grid_w)};
  }
  RoiAlignGeometry index_select(const at::Tensor& idx) const {
    auto s = [&](const at::Tensor& t) { return t.index_select(0, idx); };
    return {s(batch), s(start_h), s(start_w), s(roi_h), s(roi_w), s(bin_h), s(bin_w), s(grid_h), s(grid_w)};
  }
};

inline RoiAlignGeometry roi_align_geometry(const at::Tensor& rois, int64_t out_h, int64_t out_w,
                                           double spatial_scale, int64_t sampling_ratio, bool aligned) {
  const auto r = rois.detach();
  const double s = narrow_scale(spatial_scale);
  const double offset = aligned ? 0.5 : 0.0;
  RoiAlignGeometry g;
  g.batch = roi_batch_index(r);
  // Critical, as in MMCV: the scaled corners are not rounded.
  g.start_w = r.select(1, 1) * s - offset;
  g.start_h = r.select(1, 2) * s - offset;
  g.roi_w = (r.select(1, 3) * s - offset) - g.start_w;
  g.roi_h = (r.select(1, 4) * s - offset) - g.start_h;
  fill_roi_bins(g, out_h, out_w, sampling_ratio, aligned);
  return g;
}

/// Sample coordinates along one axis: coord[k, p, i] = start + p * bin + (i + 0.5) * bin / grid,
/// MMCV's expression and evaluation order, for i < G (columns i >= grid[k] are padding).
/// start, bin: [Kc] floating; grid: [Kc] int64. Returns [Kc, P, G].
inline at::Tensor roi_sample_coords(const at::Tensor& start, const at::Tensor& bin, const at::Tensor& grid, int64_t P,
                                    int64_t G) {
  const auto p = at::arange(P, start.options());
  const auto i = at::arange(G, start.options()) + 0.5;
  const auto base = start.unsqueeze(1) + p.unsqueeze(0) * bin.unsqueeze(1);  // [Kc, P]
  const auto step = i.unsqueeze(0) * bin.unsqueeze(1) / grid.clamp_min(1).to(start.scalar_type()).unsqueeze(1);  // [Kc, G]
  return base.unsqueeze(2) + step.unsqueeze(1);
}

/// MMCV's 1-D half of the RoI bilinear rule for coordinates along an axis of length `size`:
/// the lower / upper pixel (int64), the fraction towards the upper one, and whether the point is
/// inside [-1, size] (a point outside on either axis contributes 0).
struct RoiAxisTaps {
  at::Tensor low, high, frac, inside;
};

inline RoiAxisTaps roi_axis_taps(const at::Tensor& coord, int64_t size) {
  const auto inside = (coord >= -1.0) & (coord <= static_cast<double>(size));
  auto c = coord.clamp_min(0.0);
  auto low = c.floor();
  const auto last = low >= static_cast<double>(size - 1);  // sits exactly on the last pixel
  low = low.clamp_max(static_cast<double>(size - 1));
  c = at::where(last, low, c);
  const auto high = at::where(last, low, low + 1);
  return {low.to(at::kLong), high.to(at::kLong), c - low, inside};
}

/// Upper bound of the pixels one bin reads along an axis, per RoI: max over p of
/// high(last sample) - low(first sample) + 1, with the same arithmetic as the samples themselves
/// (0 for an empty grid). [Kc] int64.
inline at::Tensor roi_axis_extent(const at::Tensor& start, const at::Tensor& bin, const at::Tensor& grid, int64_t P,
                                  int64_t size) {
  const auto dt = start.scalar_type();
  const auto p = at::arange(P, start.options());
  const auto base = start.unsqueeze(1) + p.unsqueeze(0) * bin.unsqueeze(1);  // [K, P]
  const auto g = grid.clamp_min(1).to(dt);
  const auto first = base + (0.5 * bin / g).unsqueeze(1);
  const auto last = base + ((grid.clamp_min(1) - 1).to(dt) + 0.5).mul(bin).div(g).unsqueeze(1);
  const auto ext = roi_axis_taps(last, size).high - roi_axis_taps(first, size).low + 1;  // [K, P]
  return at::where(grid > 0, ext.amax(1), at::zeros_like(grid));
}

/// Deduplicated interpolation weights along one axis, for average pooling. Bin (k, p) reads
/// pixels start[k, p] + j (j < L) with weight[k, p, j] = sum over its samples i < grid[k] of
/// MMCV's 1-D bilinear weight / grid[k]. Since MMCV clamps y and x independently and drops a
/// sample outside [-1, H] x [-1, W], the weight of tap (row, col) of a bin is exactly
/// weight_y(row) * weight_x(col), and 1 / count = 1 / (grid_h * grid_w).
/// `read` marks the pixels MMCV's kernel actually reads (the 2 taps of every inside sample, even
/// with weight 0: 0 * NaN is NaN there), so that non-finite values propagate exactly as in MMCV.
struct RoiAxisWeights {
  at::Tensor start;    // [Kc, P] int64 first pixel read (== size when no sample is inside)
  at::Tensor weight;   // [Kc, P, L]
  at::Tensor read;     // [Kc, P, L] bool: pixel read by some inside sample
  at::Tensor outside;  // [Kc, P] bool: some sample of the bin lies outside [-1, size] on this axis
};

inline RoiAxisWeights roi_axis_weights(const at::Tensor& coord, const at::Tensor& grid, int64_t size, int64_t L) {
  const auto dt = coord.scalar_type();
  const auto G = coord.size(2);
  const auto taps = roi_axis_taps(coord, size);                                                  // [Kc, P, G]
  const auto valid = (at::arange(G, grid.options()).unsqueeze(0) < grid.unsqueeze(1)).unsqueeze(1);  // [Kc, 1, G]
  const auto inside = taps.inside & valid;                                                     // [Kc, P, G]
  const auto m = inside.to(dt) / grid.clamp_min(1).to(dt).view({-1, 1, 1});
  const auto w_low = (1.0 - taps.frac) * m;  // MMCV's hy (hx)
  const auto w_high = taps.frac * m;         // MMCV's ly (lx)
  const auto start = at::where(inside, taps.low, at::full({}, size, taps.low.options())).amin(2);  // [Kc, P]
  const auto j = at::arange(L, taps.low.options());
  const auto zero = at::zeros({}, coord.options());
  const auto hit_low = (taps.low - start.unsqueeze(2)).unsqueeze(3) == j;    // [Kc, P, G, L]
  const auto hit_high = (taps.high - start.unsqueeze(2)).unsqueeze(3) == j;
  const auto weight = at::where(hit_low, w_low.unsqueeze(3), zero).sum(2) +
                      at::where(hit_high, w_high.unsqueeze(3), zero).sum(2);  // [Kc, P, L]
  const auto read = ((hit_low | hit_high) & inside.unsqueeze(3)).any(2);    // [Kc, P, L]
  const auto outside = (valid & ~taps.inside).any(2);                       // [Kc, P]
  return {start, weight, read, outside};
}

/// Average pooling of one chunk of RoIs: every bin is a weighted sum of the map's rows over its
/// deduplicated taps (row x column window), computed by embedding_bag (sum mode, per-sample
/// weights), which never materialises the taps' channels. Returns [Kc * PH * PW, C].
/// `corner_taps`: MMCV's CPU kernel also reads pixel (0, 0) of the image, with weight 0, for every
/// sample outside the map; that only matters when a corner pixel is not finite (0 * NaN), so the
/// caller asks for those extra taps only then.
inline at::Tensor roi_align_avg_chunk(const at::Tensor& rows, const RoiAlignGeometry& g, int64_t H, int64_t W,
                                      int64_t PH, int64_t PW, int64_t Gh, int64_t Gw, int64_t Ly, int64_t Lx,
                                      bool corner_taps) {
  const int64_t Kc = g.batch.size(0);
  const auto ay = roi_axis_weights(roi_sample_coords(g.start_h, g.bin_h, g.grid_h, PH, Gh), g.grid_h, H, Ly);
  const auto ax = roi_axis_weights(roi_sample_coords(g.start_w, g.bin_w, g.grid_w, PW, Gw), g.grid_w, W, Lx);
  const auto lopt = g.batch.options();
  auto w = (ay.weight.view({Kc, PH, 1, Ly, 1}) * ax.weight.view({Kc, 1, PW, 1, Lx})).view({Kc, PH, PW, Ly * Lx});
  const auto row = ((g.batch.unsqueeze(1) * H + ay.start).unsqueeze(2) + at::arange(Ly, lopt)) * W;  // [Kc, PH, Ly]
  const auto col = ax.start.unsqueeze(2) + at::arange(Lx, lopt);                                      // [Kc, PW, Lx]
  auto idx = (row.view({Kc, PH, 1, Ly, 1}) + col.view({Kc, 1, PW, 1, Lx})).view({Kc, PH, PW, Ly * Lx});
  // Taps MMCV reads (padding and rows / columns no inside sample touches are dropped).
  auto mask = (ay.read.view({Kc, PH, 1, Ly, 1}) & ax.read.view({Kc, 1, PW, 1, Lx})).view({Kc, PH, PW, Ly * Lx});
  if (corner_taps) {
    const auto any_sample = ((g.grid_h > 0) & (g.grid_w > 0)).view({Kc, 1, 1, 1});
    const auto out_bin = (ay.outside.view({Kc, PH, 1, 1}) | ax.outside.view({Kc, 1, PW, 1})) & any_sample;
    idx = at::cat({idx, (g.batch * (H * W)).view({Kc, 1, 1, 1}).expand({Kc, PH, PW, 1})}, 3);
    w = at::cat({w, at::zeros({Kc, PH, PW, 1}, w.options())}, 3);
    mask = at::cat({mask, out_bin}, 3);
  }
  // Taps per bin = rows read x columns read (+ the corner tap): no reduction over the padded taps.
  auto counts = ay.read.sum(2).view({Kc, PH, 1}) * ax.read.sum(2).view({Kc, 1, PW});
  if (corner_taps) counts = counts + mask.select(3, Ly * Lx);
  counts = counts.view({-1});
  const auto offsets = counts.cumsum(0) - counts;
  // masked_select sizes its result from the mask: one device sync per chunk.
  return std::get<0>(at::embedding_bag(rows, idx.masked_select(mask), offsets, /*scale_grad_by_freq=*/false,
                                       /*mode=*/0, /*sparse=*/false, w.masked_select(mask),
                                       /*include_last_offset=*/false));
}

/// The 1-D tap table (detail/roi_autograd.hpp) of sample coordinates along one axis, from the
/// same MMCV rule as the samples' values. `sentinel`: also zero the weights of a sample exactly at
/// -1 (the y axis: MMCV's backward reads argmax_y == -1 as "no arg-max").
inline RoiMaxAxisTable roi_max_axis_table(const at::Tensor& coord, int64_t size, bool sentinel) {
  const auto flat = coord.reshape({-1});
  const auto taps = roi_axis_taps(flat, size);
  auto m = taps.inside;
  if (sentinel) m = m & (flat != -1.0);
  const auto mf = m.to(flat.scalar_type());
  return {taps.low, taps.high, (1.0 - taps.frac) * mf, taps.frac * mf};
}

/// Max pooling of one chunk of RoIs (MMCV's pool_mode "max"): the bilinear value of every sample
/// (embedding_bag over its 4 taps), the first strict maximum per bin and channel, the -10000 floor
/// of MMCV's CPU kernel. When `need_grad`, also where the first maximal sample is (MMCV's argmax_y /
/// argmax_x, as indices into the chunk's 1-D tap tables).
struct RoiAlignMaxChunk {
  at::Tensor out;    // [nbins, C]
  at::Tensor valid;  // [nbins, C] bool: some sample beat the floor (MMCV's argmax_y != -1 before the sentinel)
  at::Tensor ry;     // [nbins, C] int64: arg-max sample's row in y_taps (k * PH + ph) * Gh + iy
  at::Tensor rx;     // [nbins, C] int64: arg-max sample's column in x_taps (k * PW + pw) * Gw + ix
  RoiMaxAxisTable y_taps, x_taps;  // per (roi, bin row / column, sample) 1-D taps of the chunk
};

inline RoiAlignMaxChunk roi_align_max_chunk(const at::Tensor& rows, const RoiAlignGeometry& g, int64_t H, int64_t W,
                                            int64_t PH, int64_t PW, int64_t Gh, int64_t Gw, bool has_nan,
                                            bool need_grad) {
  const int64_t Kc = g.batch.size(0), C = rows.size(1), nbins = Kc * PH * PW, S = Gh * Gw;
  const auto lopt = g.batch.options();
  // Padding samples (i >= grid) repeat sample 0 of their axis: every padded slot duplicates a real
  // sample that comes earlier in MMCV's (iy outer, ix inner) order, so the first maximum over the
  // slots is always a real sample and the same one MMCV picks.
  const auto pad_first = [&](const at::Tensor& coord, const at::Tensor& grid, int64_t G) {
    const auto valid = (at::arange(G, lopt).unsqueeze(0) < grid.unsqueeze(1)).unsqueeze(1);  // [Kc, 1, G]
    return at::where(valid, coord, coord.narrow(2, 0, 1)).contiguous();
  };
  const auto ycoord = pad_first(roi_sample_coords(g.start_h, g.bin_h, g.grid_h, PH, Gh), g.grid_h, Gh);  // [Kc, PH, Gh]
  const auto xcoord = pad_first(roi_sample_coords(g.start_w, g.bin_w, g.grid_w, PW, Gw), g.grid_w, Gw);  // [Kc, PW, Gw]
  const auto taps = bilinear_taps(ycoord.view({Kc, PH, 1, Gh, 1}).expand({Kc, PH, PW, Gh, Gw}),
                                  xcoord.view({Kc, 1, PW, 1, Gw}).expand({Kc, PH, PW, Gh, Gw}), H, W,
                                  BilinearRule::kRoi);  // [Kc, PH, PW, Gh, Gw, 4]
  const auto base = (g.batch * (H * W)).view({Kc, 1, 1, 1, 1, 1});
  const auto offsets = at::arange(nbins * S, lopt) * 4;
  auto vals = std::get<0>(at::embedding_bag(rows, (taps.index + base).view({-1}), offsets, false, 0, false,
                                            taps.weight.reshape({-1}), false))
                  .view({nbins, S, C});
  // MMCV's `val > maxval` never picks NaN: make NaN the lowest value.
  if (has_nan) vals.nan_to_num_(-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity());
  const auto empty = ((g.grid_h == 0) | (g.grid_w == 0)).view({Kc, 1, 1, 1}).expand({Kc, PH, PW, 1}).reshape({nbins, 1});
  const auto floor = at::full({}, kRoiAlignMaxInit, vals.options());
  RoiAlignMaxChunk r;
  if (!need_grad) {
    r.out = at::where(empty, floor, at::amax(vals, 1).clamp_min(kRoiAlignMaxInit));  // [nbins, C]
    return r;
  }
  // First maximum over the samples (iy outer, ix inner), like MMCV's strict >: max_pool2d_with_indices
  // on the channels-last view [nbins, C, Gh, Gw] (ATen's vectorised kernel, first index on ties).
  at::Tensor mx, am;
  std::tie(mx, am) = at::max_pool2d_with_indices(vals.view({nbins, Gh, Gw, C}).permute({0, 3, 1, 2}), {Gh, Gw}, {Gh, Gw});
  mx = mx.view({nbins, C});
  am = am.view({nbins, C});
  r.out = at::where(empty, floor, mx.clamp_min(kRoiAlignMaxInit));
  const auto bin = at::arange(nbins, lopt).unsqueeze(1);  // [nbins, 1]
  const auto k = bin.div(PH * PW, "floor"), ph = bin.div(PW, "floor").remainder(PH), pw = bin.remainder(PW);
  const auto slot = at::arange(S, lopt);  // sample slot -> (iy, ix) through tiny lookup tables
  r.valid = (mx > kRoiAlignMaxInit) & ~empty;
  r.ry = (k * PH + ph) * Gh + slot.div(Gw, "floor").index_select(0, am.reshape({-1})).view({nbins, C});
  r.rx = (k * PW + pw) * Gw + slot.remainder(Gw).index_select(0, am.reshape({-1})).view({nbins, C});
  // MMCV's backward skips argmax_y == -1: a maximal sample exactly at y = -1 gets no gradient.
  r.y_taps = roi_max_axis_table(ycoord, H, /*sentinel=*/true);
  r.x_taps = roi_max_axis_table(xcoord, W, /*sentinel=*/false);
  // y entries as flat row offsets b * H * W + y * W of their roi's image
  const auto img = (g.batch * (H * W)).unsqueeze(1);  // [Kc, 1]
  r.y_taps.low = (r.y_taps.low.view({Kc, PH * Gh}) * W + img).view({-1});
  r.y_taps.high = (r.y_taps.high.view({Kc, PH * Gh}) * W + img).view({-1});
  return r;
}

inline at::Tensor roi_align_impl(const at::Tensor& input, const at::Tensor& rois, int64_t PH, int64_t PW,
                                 double spatial_scale, int64_t sampling_ratio, bool max_mode, bool aligned) {
  constexpr const char* op = "roi_align";
  const int64_t K = rois.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const auto g = roi_align_geometry(rois, PH, PW, spatial_scale, sampling_ratio, aligned);

  // One sync: per-RoI sampling grid and window extents for chunk planning, plus MMCV's
  // non-negative-size assertion for aligned rois.
  const auto neg = aligned ? ((g.roi_w < 0) | (g.roi_h < 0)).to(at::kLong) : at::zeros_like(g.batch);
  const auto stats = at::stack({g.grid_h, g.grid_w, roi_axis_extent(g.start_h, g.bin_h, g.grid_h, PH, H),
                                roi_axis_extent(g.start_w, g.bin_w, g.grid_w, PW, W), neg,
                                scaled_roi_not_finite({g.start_h, g.start_w, g.roi_h, g.roi_w, g.bin_h, g.bin_w})},
                               1)
                         .cpu();  // host-side: one sync for chunk planning and the size checks
  const auto acc = stats.accessor<int64_t, 2>();  // host-side: planning copy, K rows
  std::vector<std::array<int64_t, 4>> sizes0(static_cast<size_t>(K));
  bool any_negative = false, any_overflow = false;
  for (int64_t k = 0; k < K; ++k) {  // host-side: copy K small per-RoI counts for planning
    sizes0[static_cast<size_t>(k)] = {acc[k][0], acc[k][1], acc[k][2], acc[k][3]};
    any_negative = any_negative || acc[k][4] != 0;
    any_overflow = any_overflow || acc[k][5] != 0;
  }
  check_scaled_rois_finite(any_overflow, op);
  for (int64_t k = 0; k < K; ++k) {  // host-side: per-RoI work against the stated maximum
    const int64_t gh = std::max<int64_t>(acc[k][0], 1), gw = std::max<int64_t>(acc[k][1], 1);
    if (max_mode) {
      check_roi_samples(checked_prod({PH, PW, gh, gw}, op, "samples per roi output_size * grid_h * grid_w"), op,
                        "samples of one roi in max mode (oh * ow * grid_h * grid_w)");
    } else {  // the per-axis weight tables [oh, grid_h, window rows] and [ow, grid_w, window columns]
      check_roi_samples(checked_add(checked_prod({PH, gh, std::max<int64_t>(acc[k][2], 1)}, op, "avg weight table"),
                                    checked_prod({PW, gw, std::max<int64_t>(acc[k][3], 1)}, op, "avg weight table"),
                                    op, "avg weight tables"),
                        op, "per-axis weight tables of one roi in avg mode (oh * grid_h * rows + ow * grid_w * columns)");
    }
  }
  if (any_negative) {
    const double worst = at::minimum(g.roi_w, g.roi_h).min().item<double>();  // host-side: error path only
    check_in_range(worst, 0.0, std::numeric_limits<double>::infinity(), op,
                   "the scaled width and height of every roi (aligned=True)");
  }

  const bool need_grad = max_mode && input.requires_grad() && at::GradMode::is_enabled();
  // Average pooling differentiates through embedding_bag over the channels-last rows; max pooling
  // computes its values from detached rows and routes its gradient with RoiAlignMaxRoute.
  const auto rows = max_mode ? roi_rows(input.detach()) : roi_rows(input);  // [B*H*W, C]
  const bool has_nan = max_mode && at::isnan(input).any().item<bool>();  // host-side: one sync (max mode)
  // Avg mode: is any pixel (0, 0) not finite? (one sync on B x C values)
  const auto corner = input.select(2, 0).select(2, 0);
  const bool corner_taps = !max_mode && !at::isfinite(corner).all().item<bool>();  // host-side: one sync
  const auto cost = [&](int64_t n, const std::array<int64_t, 4>& m) {
    const int64_t gh = std::max<int64_t>(m[0], 1), gw = std::max<int64_t>(m[1], 1);
    // Overflow-checked chunk plan (a stride-0 input can have a huge C).
    if (max_mode) return checked_prod({n, PH, PW, gh, gw, checked_add(C, 8, op, "C + 8")}, op, "roi chunk plan");
    const int64_t taps = checked_prod({PH, PW, m[2], m[3]}, op, "roi chunk plan");
    return checked_mul(n, checked_add(taps, checked_add(checked_prod({PH, gh, m[2]}, op, "roi chunk plan"),
                                                        checked_prod({PW, gw, m[3]}, op, "roi chunk plan"), op,
                                                        "roi chunk plan"),
                                      op, "roi chunk plan"),
                       op, "roi chunk plan");
  };
  // Process the RoIs sorted by their own cost so that each chunk pads to a tight maximum (with
  // sampling_ratio = 0 RoI sizes vary by orders of magnitude); the output order is restored below.
  std::vector<int64_t> order(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) order[static_cast<size_t>(k)] = k;  // host-side: RoI order for planning
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return cost(1, sizes0[static_cast<size_t>(a)]) < cost(1, sizes0[static_cast<size_t>(b)]);
  });
  bool identity = true;
  std::vector<std::array<int64_t, 4>> sizes(static_cast<size_t>(K));
  std::vector<int64_t> inverse(static_cast<size_t>(K));
  for (int64_t i = 0; i < K; ++i) {  // host-side: permuted planning copy
    const auto k = order[static_cast<size_t>(i)];
    sizes[static_cast<size_t>(i)] = sizes0[static_cast<size_t>(k)];
    inverse[static_cast<size_t>(k)] = i;
    identity = identity && k == i;
  }
  const auto lopt = g.batch.options();
  const auto gs = identity ? g : g.index_select(at::tensor(order, at::kLong).to(lopt.device()));
  // [K * PH * PW, X] rows in sorted RoI order -> natural order (row blocks of one RoI are moved whole).
  const auto unsort = [&](const at::Tensor& t) {
    if (identity) return t;
    const auto blocks = t.reshape({K, -1}).index_select(0, at::tensor(inverse, at::kLong).to(lopt.device()));
    return blocks.view(t.sizes());
  };
  std::vector<at::Tensor> outs, rys, rxs;
  std::vector<RoiMaxAxisTable> ytabs, xtabs;
  int64_t y_rows = 1, x_rows = 1;  // row 0 of both tap tables: the zero entry for "no arg-max"
  for (const auto& ch : plan_sorted_roi_chunks(sizes, kRoiChunkBudget, cost)) {  // host-side: loop over RoI chunks
    int64_t Gh = 1, Gw = 1, Ly = 1, Lx = 1;
    for (int64_t k = ch.first; k < ch.second; ++k) {  // host-side: chunk maxima from the planning copy
      const auto& s = sizes[static_cast<size_t>(k)];
      Gh = std::max(Gh, s[0]);
      Gw = std::max(Gw, s[1]);
      Ly = std::max(Ly, s[2]);
      Lx = std::max(Lx, s[3]);
    }
    const auto gc = gs.slice(ch.first, ch.second);
    if (!max_mode) {
      outs.push_back(roi_align_avg_chunk(rows, gc, H, W, PH, PW, Gh, Gw, Ly, Lx, corner_taps));
      continue;
    }
    auto r = roi_align_max_chunk(rows, gc, H, W, PH, PW, Gh, Gw, has_nan, need_grad);
    outs.push_back(r.out);
    if (!need_grad) continue;
    // Rows of the concatenated tap tables; row 0 (zero weights) where the bin has no arg-max.
    const auto none = at::zeros({}, r.ry.options());
    rys.push_back(at::where(r.valid, r.ry + y_rows, none));
    rxs.push_back(at::where(r.valid, r.rx + x_rows, none));
    y_rows += r.y_taps.low.size(0);
    x_rows += r.x_taps.low.size(0);
    ytabs.push_back(r.y_taps);
    xtabs.push_back(r.x_taps);
  }
  const auto cat = [](const std::vector<at::Tensor>& v) { return v.size() == 1 ? v.front() : at::cat(v, 0); };
  if (!need_grad) return unsort(cat(outs)).view({K, PH, PW, C}).permute({0, 3, 1, 2}).contiguous();
  // Max mode with a gradient: RoiAlignMaxRoute works in the [C, K*PH*PW] layout of the channel
  // planes its backward scatters into.
  const auto ytab = roi_max_axis_table_cat(ytabs), xtab = roi_max_axis_table_cat(xtabs);  // zero entry first
  const auto planes = [&](const std::vector<at::Tensor>& v) { return unsort(cat(v)).t().contiguous(); };
  const auto out = RoiAlignMaxRoute::apply(input, planes(outs), planes(rys), planes(rxs), ytab.low, ytab.high,
                                           ytab.w_low, ytab.w_high, xtab.low, xtab.high, xtab.w_low,
                                           xtab.w_high);  // [C, K*PH*PW]
  return out.view({C, K, PH, PW}).permute({1, 0, 2, 3}).contiguous();
}

}  // namespace detail

/// RoI Align: bilinearly sampled average (or max) pooling of each RoI into a fixed grid.
///
/// MMCV: `mmcv.ops.roi_align(input, rois, output_size, spatial_scale=1.0, sampling_ratio=0,
///        pool_mode='avg', aligned=True)`
///
/// @param input          Tensor[B, C, H, W], float32 or float64 (float16/bfloat16 are computed in
///                       float32 and returned in their dtype). H and W must be positive.
/// @param rois           Tensor[K, 5] `(batch_index, x1, y1, x2, y2)` in input-image coordinates,
///                       same dtype and device as input. batch_index is truncated to an integer
///                       (as MMCV's int conversion) and must lie in [0, B).
/// @param output_size    `oh` or `{oh, ow}`, positive.
/// @param spatial_scale  factor from image to feature-map coordinates (e.g. 1/8); used as float32,
///                       like MMCV.
/// @param sampling_ratio samples per bin along each axis; 0 = adaptive, ceil(roi_size / output
///                       size) per RoI (different for every RoI).
/// @param pool_mode      "avg" (mean of the samples) or "max" (max of the samples).
/// @param aligned        true: shift the scaled box by -0.5 pixel (detectron2 convention) and
///                       require non-negative sizes; false: legacy, clamp roi w, h to >= 1.
/// @return Tensor[K, C, oh, ow], dtype and device of input, contiguous.
/// @throws c10::Error: input not 4-D, rois not [K, 5], non-floating or mismatched dtype, device
///         mismatch, output_size not positive or of more than 2 values, negative sampling_ratio,
///         pool_mode not "avg"/"max", spatial_scale not finite (as float32), H or W = 0, non-finite
///         rois, batch index out of range, a negative roi size with aligned=True.
/// @note MMCV's RoI bilinear rule: a sample with y < -1 or y > H (x likewise) contributes 0,
///       otherwise it is clamped into the map (border replicated). Average = sum / max(grid_h *
///       grid_w, 1), so an empty adaptive RoI gives 0. Max mode = max of the bilinear sample
///       values with MMCV's CPU floor of -10000 (a bin whose samples are all <= -10000, or an
///       empty RoI, gives -10000); NaN samples are skipped as MMCV's `>` skips them.
/// @note Gradients flow to `input` only (rois are treated as constants, like MMCV). Average mode:
///       each sample's gradient spread over its 4 taps / count. Max mode: the gradient goes to the
///       4 bilinear neighbours of the first maximal sample (iy outer, ix inner), as MMCV's backward,
///       and nowhere when that sample lies exactly at y = -1 (MMCV's argmax_y sentinel).
/// @note Non-finite values in `input` propagate as in MMCV's CPU kernel (weight-0 taps are read).
/// @note Synchronises with the device a few times per call (rois validation, chunk planning, one
///       count per chunk of RoIs, a NaN / corner scan). Memory: the output, a channels-last copy of
///       the map, and per chunk of RoIs at most ~4M padded taps (avg) or ~4M sampled values
///       (max: bins x samples x C); never O(K * H * W), and average pooling never holds taps x C.
/// Example:
///   auto feats = at::randn({2, 256, 100, 152});
///   auto rois = at::tensor({0., 16., 24., 200., 180.}).view({1, 5});
///   auto out = mmcv::ops::roi_align(feats, rois, 7, /*spatial_scale=*/0.125, /*sampling_ratio=*/2);
///   // out: [1, 256, 7, 7]
inline at::Tensor roi_align(const at::Tensor& input, const at::Tensor& rois, at::IntArrayRef output_size,
                            double spatial_scale = 1.0, int64_t sampling_ratio = 0, const std::string& pool_mode = "avg",
                            bool aligned = true) {
  constexpr const char* op = "roi_align";
  const auto out_hw = detail::check_roi_args(input, rois, output_size, spatial_scale, op);
  detail::check_non_negative(sampling_ratio, op, "sampling_ratio");
  detail::check_one_of(pool_mode, {"avg", "max"}, op, "pool_mode");
  const auto st = input.scalar_type();
  if (st == at::kHalf || st == at::kBFloat16)  // computed in float32, returned in the input's dtype
    return roi_align(input.to(at::kFloat), rois.to(at::kFloat), output_size, spatial_scale, sampling_ratio, pool_mode,
                     aligned)
        .to(st);
  const int64_t K = rois.size(0);
  detail::check_roi_values(rois, input.size(0), op);
  if (K == 0 || input.size(1) == 0) return detail::roi_empty_result(input, K, out_hw.first, out_hw.second);
  return detail::roi_align_impl(input, rois, out_hw.first, out_hw.second, spatial_scale, sampling_ratio,
                                pool_mode == "max", aligned);
}

}  // namespace ops
}  // namespace mmcv
