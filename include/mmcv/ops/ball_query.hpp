// SPDX-License-Identifier: Apache-2.0
#pragma once
// Ball query. Mirrors mmcv/ops/ball_query.py (mmcv.ops.ball_query); MMCV has only CUDA kernels
// (common/cuda/ball_query_cuda_kernel.cuh, stack_ball_query_cuda_kernel.cuh).
//
// MMCV's rule (batch mode): point k is a hit of a centre iff d2 == 0 || (min_r^2 <= d2 < max_r^2)
// (radii rounded to float32 and squared in float32, d2 in the input dtype), so distance 0 is
// accepted even when min_radius > 0; the first sample_num hits in index order fill the slots,
// the remaining slots repeat the FIRST hit, and a centre without hits gets all 0. Stacked mode
// (ragged batches concatenated, MMCV >= 1.7) uses only max_radius (d2 < max_r^2, no d2 == 0
// rule), batch-relative indices, and marks a centre without hits with -1 in slot 0 (others 0).
//
// Strategy: centres are processed in tiles (detail::points_tile_rows bounds the [B, q, N]
// distance tile by detail::kPointsTileBudget elements); the hit mask's running count along the
// points gives each hit its slot, one scatter writes the first sample_num hits, a where fills the
// rest with the first hit. Stacked mode runs the same per batch (one host read of the counts).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>
#include <mmcv/ops/group_points.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

namespace mmcv {
namespace ops {
namespace detail {

/// Batch ball query of ctr [B, P, 3] among pts [B, N, 3]: hit iff (zero_ok && d2 == 0) ||
/// (lo2 <= d2 < hi2). Returns (idx int64 [B, P, S] with MMCV's first-hit padding, 0 when no hit;
/// hit count clamped to S, int64 [B, P]).
inline std::pair<at::Tensor, at::Tensor> ball_query_tiles(const at::Tensor& ctr, const at::Tensor& pts, double lo2,
                                                          double hi2, bool zero_ok, int64_t S) {
  const int64_t B = ctr.size(0), P = ctr.size(1), N = pts.size(1);
  const auto lopt = ctr.options().dtype(at::kLong);
  auto out = at::zeros({B, P, S}, lopt);
  auto cnt = at::zeros({B, P}, lopt);
  if (B == 0 || P == 0 || N == 0 || S == 0) return {out, cnt};
  const int64_t step = points_tile_rows(B, N);
  const auto src = at::arange(N, lopt);
  const auto slots = at::arange(S, lopt);
  for (int64_t p0 = 0; p0 < P; p0 += step) {  // host-side: loop over centre tiles (bounded memory)
    const int64_t q = std::min(step, P - p0), R = B * q;
    const auto d2 = points_sq_dist(ctr.narrow(1, p0, q), pts).view({R, N});
    auto hit = (d2 >= lo2) & (d2 < hi2);
    if (zero_ok) hit |= d2 == 0;
    const auto rank = hit.cumsum(1, at::kInt);  // 1-based slot of each hit
    const auto col = at::where(hit & (rank <= S), rank.to(at::kLong) - 1, at::full({}, S, lopt));
    auto tile = at::zeros({R, S + 1}, lopt);
    tile.scatter_(1, col, src.expand({R, N}));
    const auto n = rank.select(1, N - 1).to(at::kLong).clamp_max(S).unsqueeze(1);  // [R, 1]
    const auto first = tile.narrow(1, 0, 1);                                        // 0 when no hit
    const auto filled = at::where(slots.unsqueeze(0) < n, tile.narrow(1, 0, S), first);
    out.narrow(1, p0, q).copy_(filled.view({B, q, S}));
    cnt.narrow(1, p0, q).copy_(n.view({B, q}));
  }
  return {out, cnt};
}

}  // namespace detail

/// Indices of up to sample_num points within a ball (or shell) around each centre.
///
/// MMCV: `mmcv.ops.ball_query(min_radius, max_radius, sample_num, xyz, center_xyz,
///        xyz_batch_cnt=None, center_xyz_batch_cnt=None)` (CUDA kernel semantics)
///
/// @param min_radius, max_radius  shell radii, min_radius < max_radius (MMCV's assert), finite;
///                                rounded to float32 as MMCV's kernel arguments.
/// @param sample_num  slots per centre, >= 0.
/// @param xyz         Tensor[B, N, 3] (stacked: Tensor[N1 + N2 + ..., 3]), float32 or float64.
/// @param center_xyz  Tensor[B, npoint, 3] (stacked: Tensor[M1 + M2 + ..., 3]), same dtype/device.
/// @param xyz_batch_cnt, center_xyz_batch_cnt  Tensor[B] integer counts: both given = stacked mode.
/// @return int32 Tensor[B, npoint, sample_num] (stacked: [M1 + M2 + ..., sample_num],
///         batch-relative indices, -1 in slot 0 of a centre without hits). No gradient.
/// @throws c10::Error: radii not finite or min >= max, sample_num < 0, wrong shapes, dtypes,
///         devices, batch counts (negative, wrong length, sums), only one count given.
inline at::Tensor ball_query(double min_radius, double max_radius, int64_t sample_num, const at::Tensor& xyz,
                             const at::Tensor& center_xyz, const std::optional<at::Tensor>& xyz_batch_cnt = std::nullopt,
                             const std::optional<at::Tensor>& center_xyz_batch_cnt = std::nullopt) {
  const char* op = "ball_query";
  detail::check_finite_scalar(min_radius, op, "min_radius");
  detail::check_finite_scalar(max_radius, op, "max_radius");
  detail::check_arg(min_radius < max_radius, op, "min_radius", "be less than max_radius (" + std::to_string(max_radius) + ")",
                    min_radius);
  detail::check_non_negative(sample_num, op, "sample_num");
  detail::check_arg(xyz_batch_cnt.has_value() == center_xyz_batch_cnt.has_value(), op,
                    xyz_batch_cnt.has_value() ? "center_xyz_batch_cnt" : "xyz_batch_cnt",
                    "be given together with the other batch count (stacked mode)", "only one of them");
  detail::check_floating(xyz, op, "xyz");
  detail::check_same_dtype(xyz, center_xyz, op, "xyz", "center_xyz");
  detail::check_same_device(xyz, center_xyz, op, "xyz", "center_xyz");
  const float lo = static_cast<float>(min_radius), hi = static_cast<float>(max_radius);
  const double lo2 = static_cast<double>(lo * lo), hi2 = static_cast<double>(hi * hi);  // float32 squares
  if (!xyz_batch_cnt.has_value()) {
    detail::ShapeChecker sc(op);
    sc.check(xyz, "xyz", {"B", "N", "3"});
    sc.check(center_xyz, "center_xyz", {"B", "npoint", "3"});
    return detail::ball_query_tiles(center_xyz.detach().contiguous(), xyz.detach().contiguous(), lo2, hi2, /*zero_ok=*/true, sample_num)
        .first.to(at::kInt);
  }
  detail::ShapeChecker sc(op);
  sc.check(xyz, "xyz", {"N", "3"});
  sc.check(center_xyz, "center_xyz", {"M", "3"});
  const int64_t B = center_xyz_batch_cnt->dim() == 1 ? center_xyz_batch_cnt->size(0) : -1;
  const auto ccnt = detail::batch_counts(*center_xyz_batch_cnt, B, center_xyz.size(0), op, "center_xyz_batch_cnt",
                                         "center_xyz.size(0)");
  const auto xcnt = detail::batch_counts(*xyz_batch_cnt, B, xyz.size(0), op, "xyz_batch_cnt", "xyz.size(0)");
  auto out = at::zeros({center_xyz.size(0), sample_num}, xyz.options().dtype(at::kLong));
  int64_t xs = 0, cs = 0;
  for (int64_t b = 0; b < B; ++b) {  // host-side: loop over the B ragged batches
    if (ccnt[b] > 0 && sample_num > 0) {
      auto r = detail::ball_query_tiles(center_xyz.detach().narrow(0, cs, ccnt[b]).unsqueeze(0).contiguous(),
                                        xyz.detach().narrow(0, xs, xcnt[b]).unsqueeze(0).contiguous(),
                                        -std::numeric_limits<double>::infinity(), hi2, /*zero_ok=*/false, sample_num);
      auto idx = r.first.squeeze(0);
      idx.select(1, 0).masked_fill_(r.second.squeeze(0) == 0, -1);
      out.narrow(0, cs, ccnt[b]).copy_(idx);
    }
    xs += xcnt[b];
    cs += ccnt[b];
  }
  return out.to(at::kInt);
}

}  // namespace ops
}  // namespace mmcv
