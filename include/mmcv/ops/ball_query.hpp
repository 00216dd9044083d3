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
// Strategy: centres are processed in row tiles that scan the points in chunks, in index order,
// dropping a row as soon as it holds sample_num hits (MMCV's kernel breaks there too); within a
// chunk the hit mask's running count gives each hit its slot, and one index_put writes the first
// sample_num hits; a where fills the rest with the first hit. Memory: O(detail::kPointsTileBudget)
// per step. Stacked mode runs the same per batch (one host read of the counts).

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

/// Points per chunk of the ball-query scan (512 measured fastest of 256..2,048 at r = 0.2, 32
/// samples in the unit cube, docs/performance.md): rows stop being scanned once they hold sample_num hits
/// (MMCV's kernel breaks there too), so a typical query reads a few chunks, not all N points.
inline constexpr int64_t kBallQueryChunk = 512;

/// Batch ball query of ctr [B, P, 3] among pts [B, N, 3] (both contiguous): hit iff
/// (zero_ok && d2 == 0) || (lo2 <= d2 < hi2). Returns (idx int64 [B, P, S] with MMCV's first-hit
/// padding, 0 when no hit; hit count clamped to S, int64 [B, P]).
/// Strategy: per batch, centres in row tiles of kPointsTileBudget / chunk; each tile scans the
/// points chunk by chunk in index order, only for its rows that still lack hits; a hit's slot is
/// the row's count so far plus its rank in the chunk (cumsum); the first S hits are written with
/// one index_put per chunk. Memory: O(kPointsTileBudget) elements per chunk step (d2, mask, ranks).
inline std::pair<at::Tensor, at::Tensor> ball_query_tiles(const at::Tensor& ctr, const at::Tensor& pts, double lo2,
                                                          double hi2, bool zero_ok, int64_t S) {
  const int64_t B = ctr.size(0), P = ctr.size(1), N = pts.size(1);
  const auto lopt = ctr.options().dtype(at::kLong);
  auto out = at::zeros({B * P, S}, lopt);
  auto cnt = at::zeros({B * P}, lopt);
  if (B == 0 || P == 0 || N == 0 || S == 0) return {out.view({B, P, S}), cnt.view({B, P})};
  const int64_t chunk = std::min(N, kBallQueryChunk);
  const int64_t step = std::max<int64_t>(1, kPointsTileBudget / chunk);
  for (int64_t b = 0; b < B; ++b) {  // host-side: loop over batches (a row tile never spans two)
    const auto pb = pts.select(0, b);
    const auto cb = ctr.select(0, b);
    for (int64_t p0 = 0; p0 < P; p0 += step) {  // host-side: loop over row tiles (bounded memory)
      const int64_t rt = std::min(step, P - p0), r0 = b * P + p0;
      auto tile = at::zeros({rt, S + 1}, lopt);  // column S: a dummy for hits beyond the S-th
      auto tcnt = at::zeros({rt}, lopt.dtype(at::kInt));
      auto active = at::arange(rt, lopt);  // tile-local rows still short of S hits
      for (int64_t n0 = 0; n0 < N; n0 += chunk) {  // host-side: scan of point chunks with early exit
        const int64_t a = active.size(0);
        if (a == 0) break;
        const int64_t c = std::min(chunk, N - n0);
        const auto q = a == rt ? cb.narrow(0, p0, rt) : cb.narrow(0, p0, rt).index_select(0, active);  // [a, 3]
        const auto d2 = points_sq_dist(q.unsqueeze(0), pb.narrow(0, n0, c).unsqueeze(0)).view({a, c});
        auto hit = d2 < hi2;
        // lo2 <= 0 < hi2 (the usual min_radius = 0 or stacked mode): d2 >= lo2 holds for every
        // non-NaN d2 (NaN fails d2 < hi2 too) and d2 == 0 is inside, so one comparison suffices.
        if (!(lo2 <= 0 && hi2 > 0)) {
          hit.logical_and_(d2 >= lo2);
          if (zero_ok) hit.logical_or_(d2 == 0);
        }
        const auto before = tcnt.index_select(0, active);                              // [a] int32
        auto slot = hit.cumsum(1, at::kInt);                                            // 1-based rank
        const auto now = before + slot.select(1, c - 1);                                // hits so far
        slot.add_((before - 1).unsqueeze(1));                                           // 0-based slot
        const auto take = hit.logical_and_(slot < S).nonzero();                         // [t, 2]
        const auto ti = take.select(1, 0), tj = take.select(1, 1);
        tile.index_put_({active.index_select(0, ti), slot.index({ti, tj}).to(at::kLong)}, tj + n0);
        tcnt.index_copy_(0, active, now);
        active = active.masked_select(now < S);  // host-side: the compaction reads the new row count
      }
      const auto n = tcnt.to(at::kLong).clamp_max(S).unsqueeze(1);
      const auto slots = at::arange(S, lopt).unsqueeze(0);
      out.narrow(0, r0, rt).copy_(at::where(slots < n, tile.narrow(1, 0, S), tile.narrow(1, 0, 1)));
      cnt.narrow(0, r0, rt).copy_(n.squeeze(1));
    }
  }
  return {out.view({B, P, S}), cnt.view({B, P})};
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
