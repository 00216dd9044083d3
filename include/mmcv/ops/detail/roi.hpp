// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared plumbing of the RoI ops (roi_align, roi_pool; roi_align_rotated uses the bins and the
// chunk planning): argument checks on (input [B, C, H, W], rois [K, 5]), MMCV's per-RoI bins and
// adaptive sampling grid, the channels-last row view the ops gather from, the float32 narrowing
// of spatial_scale, and the host-side planning of RoI chunks that bounds memory.
// IWYU pragma: private, include <mmcv/ops/roi_align.hpp> or <mmcv/ops/roi_pool.hpp> instead.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Work items (padded entries, sampled values) one RoI chunk may materialise. A chunk holds at
/// least one RoI, so a single RoI larger than this runs alone.
inline constexpr int64_t kRoiChunkBudget = int64_t{1} << 22;

/// Most samples the bilinear RoI ops take for one RoI in max mode (roi_align: oh * ow * grid_h *
/// grid_w) or for one bin row (roi_align_rotated: ow * grid_h * grid_w): a larger request (a huge
/// sampling_ratio, or an adaptive grid on a huge RoI) is refused up front, because its work and
/// memory would be set by the parameter instead of the output (docs/ops/roi_align.md).
inline constexpr int64_t kRoiMaxSamples = int64_t{1} << 22;

/// MMCV's per-RoI bins and sampling grid, shared by roi_align and roi_align_rotated (`G` has
/// tensor fields batch, roi_h, roi_w, bin_h, bin_w, grid_h, grid_w; roi_h / roi_w are set on
/// entry). aligned=false (MMCV's backward-compatible mode) makes every RoI at least 1 x 1;
/// bin = size / output size; sampling_ratio > 0 fixes the grid, 0 gives ceilf(bin) per axis,
/// taken on the float32 value as MMCV's ceilf does even for double data, and clamped before the
/// integer conversion (0 for an empty aligned RoI).
template <class G>
inline void fill_roi_bins(G& g, int64_t out_h, int64_t out_w, int64_t sampling_ratio, bool aligned) {
  if (!aligned) {
    g.roi_w = g.roi_w.clamp_min(1.0);
    g.roi_h = g.roi_h.clamp_min(1.0);
  }
  g.bin_h = g.roi_h / static_cast<double>(out_h);
  g.bin_w = g.roi_w / static_cast<double>(out_w);
  if (sampling_ratio > 0) {
    g.grid_h = at::full_like(g.batch, sampling_ratio);
    g.grid_w = at::full_like(g.batch, sampling_ratio);
    return;
  }
  const auto grid = [](const at::Tensor& bin) {
    return bin.to(at::kFloat).ceil().clamp(0.0, static_cast<double>(int64_t{1} << 30)).to(at::kLong);
  };
  g.grid_h = grid(g.bin_h);
  g.grid_w = grid(g.bin_w);
}

/// [K] int64: 1 where a RoI value computed from rois * spatial_scale is not finite. Finite rois can
/// overflow after scaling (3e38 * 10 in float32): such a RoI would sample at Inf and grow its grid
/// without bound, so the callers fold this column into their planning sync and reject it.
inline at::Tensor scaled_roi_not_finite(std::initializer_list<at::Tensor> values) {
  at::Tensor bad;
  for (const auto& v : values) {  // host-side: a few [K] tensors
    const auto b = ~at::isfinite(v);
    bad = bad.defined() ? (bad | b) : b;
  }
  return bad.to(at::kLong);
}

inline void check_scaled_rois_finite(bool any_overflow, const char* op) {
  TORCH_CHECK_VALUE(!any_overflow, op, ": expected rois * spatial_scale to be finite (and the scaled sizes and ",
                    "bins), but got a value that overflows its dtype after scaling");
}

/// kRoiMaxSamples: fail fast when one RoI (or bin row) asks for more samples.
inline void check_roi_samples(int64_t samples, const char* op, const char* what) {
  TORCH_CHECK_VALUE(samples <= kRoiMaxSamples, op, ": expected the ", what, " to be at most 2^22 = ", kRoiMaxSamples,
                    " (lower sampling_ratio or output_size; an adaptive grid (sampling_ratio = 0) on a huge roi ",
                    "asks for ceil(roi size / output size) samples per axis), but got ", samples);
}

/// Shape, dtype, device and scalar-parameter checks shared by roi_align and roi_pool, in the
/// project's order (shape, dtype, device, values). Returns (out_h, out_w).
inline std::pair<int64_t, int64_t> check_roi_args(const at::Tensor& input, const at::Tensor& rois,
                                                  at::IntArrayRef output_size, double spatial_scale,
                                                  const char* op) {
  check_dim(input, 4, op, "input");
  ShapeChecker(op).check(rois, "rois", {"K", "5"});
  check_floating(input, op, "input", /*allow_half=*/true);
  check_same_dtype(input, rois, op, "input", "rois");
  check_same_device(input, rois, op, "input", "rois");
  const auto out = pair_arg(output_size, op, "output_size");
  check_positive(out.first, op, "output_size");
  check_positive(out.second, op, "output_size");
  // MMCV's kernels take spatial_scale as a C++ float.
  check_finite_scalar(static_cast<float>(spatial_scale), op, "spatial_scale");
  check_positive(input.size(2), op, "input height");
  check_positive(input.size(3), op, "input width");
  // Sizes known up front: the bins and the output [K, C, oh, ow] (overflow and memory).
  const int64_t K = rois.size(0), C = input.size(1);
  checked_prod({K, out.first, out.second}, op, "the number of bins rois.size(0) * output_size");
  check_can_allocate({K, C, out.first, out.second}, input.options(), op, "the output [K, C, oh, ow] =");
  return out;
}

/// spatial_scale as MMCV's kernels see it: narrowed to float32, then widened to the data dtype.
inline double narrow_scale(double spatial_scale) { return static_cast<double>(static_cast<float>(spatial_scale)); }

/// MMCV's `int roi_batch_ind = rois[k][0]`: truncation toward zero. [K] int64.
inline at::Tensor roi_batch_index(const at::Tensor& rois) { return rois.select(1, 0).trunc().to(at::kLong); }

/// Value checks on rois that read device data (one synchronisation each on CUDA): every
/// coordinate finite, every truncated batch index in [0, B).
inline void check_roi_values(const at::Tensor& rois, int64_t batch, const char* op) {
  if (rois.size(0) == 0) return;
  check_finite(rois, op, "rois");
  const auto b = roi_batch_index(rois);
  const auto range = at::stack({b.min(), b.max()}).cpu();  // host-side: one sync to validate indices
  const auto lo = range[0].item<int64_t>(), hi = range[1].item<int64_t>();  // host-side: read the synced range
  const int64_t bad = lo < 0 ? lo : hi;
  if (lo < 0 || hi >= batch)
    check_in_range(static_cast<double>(bad), 0.0, static_cast<double>(batch - 1), op, "rois[:, 0] (batch index)");
}

/// Rows of a channels-last copy of the map: [B, C, H, W] -> [B * H * W, C] (no copy when the
/// input is already channels_last), with canonical strides whatever the input's layout (a view
/// must give the contiguous call's bits). Differentiable.
inline at::Tensor roi_rows(const at::Tensor& input) {
  return canonical_rows(input.permute({0, 2, 3, 1}).contiguous().view({-1, input.size(1)}));
}

/// The result for K = 0 rois or C = 0 channels: an empty tensor that stays on the autograd graph
/// (as the output of MMCV's autograd.Function does), so backward through it gives input a zero
/// gradient instead of failing.
inline at::Tensor roi_empty_result(const at::Tensor& input, int64_t K, int64_t oh, int64_t ow) {
  return input.narrow(0, 0, 0).reshape({K, input.size(1), oh, ow});
}

/// When every bin of a result got its value without a differentiable path (e.g. all bins empty),
/// `out` would not require grad; keep it on the graph with an exact zero (the sum of an empty
/// slice of `input`) so that backward gives input a zero gradient, as MMCV's Function does.
inline at::Tensor roi_keep_on_graph(const at::Tensor& out, const at::Tensor& input, bool need_grad) {
  if (!need_grad || out.requires_grad()) return out;
  return out + input.narrow(0, 0, 0).sum();
}

/// Split RoIs 0..K-1 into consecutive chunks for padded per-chunk work. Each RoI has N sizes
/// (`sizes[k]`, e.g. its sampling grid and window extents, already copied to the host); a chunk
/// pads every RoI to the chunk's maxima, so its work is `cost(n, maxima)` for n RoIs. Chunks grow
/// while that stays <= budget (a chunk holds at least one RoI).
template <size_t N, typename Cost>
std::vector<std::pair<int64_t, int64_t>> plan_roi_chunks(const std::vector<std::array<int64_t, N>>& sizes,
                                                         int64_t budget, Cost&& cost) {
  std::vector<std::pair<int64_t, int64_t>> chunks;
  const int64_t K = static_cast<int64_t>(sizes.size());
  int64_t begin = 0;
  while (begin < K) {  // host-side: chunk planning over per-RoI sizes (bounds memory)
    std::array<int64_t, N> mx = sizes[static_cast<size_t>(begin)];
    int64_t end = begin + 1;
    while (end < K) {
      std::array<int64_t, N> next = mx;
      for (size_t d = 0; d < N; ++d) next[d] = std::max(next[d], sizes[static_cast<size_t>(end)][d]);
      if (cost(end + 1 - begin, next) > budget) break;
      mx = next;
      ++end;
    }
    chunks.emplace_back(begin, end);
    begin = end;
  }
  return chunks;
}

/// Like plan_roi_chunks, for RoIs sorted by size (ascending): a chunk also stops growing when
/// padding every RoI to the chunk's maxima would cost more than `max_waste` times the RoIs' own
/// costs (unless the whole chunk is still below budget / 16), so chunks pad tightly.
template <size_t N, typename Cost>
std::vector<std::pair<int64_t, int64_t>> plan_sorted_roi_chunks(const std::vector<std::array<int64_t, N>>& sizes,
                                                                int64_t budget, Cost&& cost, double max_waste = 1.5) {
  std::vector<std::pair<int64_t, int64_t>> chunks;
  const int64_t K = static_cast<int64_t>(sizes.size());
  int64_t begin = 0;
  while (begin < K) {  // host-side: chunk planning over per-RoI sizes (bounds memory and padding)
    std::array<int64_t, N> mx = sizes[static_cast<size_t>(begin)];
    int64_t own = cost(1, mx);
    int64_t end = begin + 1;
    while (end < K) {
      const auto& next_size = sizes[static_cast<size_t>(end)];
      std::array<int64_t, N> next = mx;
      for (size_t d = 0; d < N; ++d) next[d] = std::max(next[d], next_size[d]);
      const int64_t padded = cost(end + 1 - begin, next), own_next = own + cost(1, next_size);
      if (padded > budget) break;
      if (padded > budget / 16 && static_cast<double>(padded) > max_waste * static_cast<double>(own_next)) break;
      mx = next;
      own = own_next;
      ++end;
    }
    chunks.emplace_back(begin, end);
    begin = end;
  }
  return chunks;
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
