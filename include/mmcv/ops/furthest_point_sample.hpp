// SPDX-License-Identifier: Apache-2.0
#pragma once
// Furthest point sampling. Mirrors mmcv/ops/furthest_point_sample.py
// (mmcv.ops.furthest_point_sample, mmcv.ops.furthest_point_sample_with_dist); MMCV has only CUDA
// kernels (common/cuda/furthest_point_sample_cuda_kernel.cuh).
//
// MMCV's algorithm: start at index 0; keep temp[k] = min over the chosen points of the squared
// distance (initialised to 1e10, CUDA min, so NaN never enters); the next point is the arg-max of
// temp, found by one CUDA block of bs = clamp(2^floor(log2 N), 1, 1024) threads: thread t scans
// k = t, t + bs, ... keeping its earliest maximum (strict >), then a tree reduction merges slot
// t + h into slot t for h = bs/2 .. 1 keeping the LEFT slot on ties. Unrolled, the tie rule is:
// among the points achieving the maximum, the winner is the one with the smallest
// (bitreverse(k mod bs), k div bs) -- the reduction decides the lowest thread bit last.
//
// Strategy: the points are permuted once into that preference order, so a plain first-occurrence
// at::argmax over the permuted temp is MMCV's choice, ties included. The sampling itself is a
// host loop over num_points iterations of a few batched ATen ops over [B, N] (distance to the
// last chosen point, fmin into temp, argmax, gather of the next point), all on the device: no
// host sync inside the loop. Memory: O(B * N) (with_dist: one [B, N] row per iteration).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cmath>
#include <cstdint>

namespace mmcv {
namespace ops {
namespace detail {

/// Permutation [N] (int64) listing the points in MMCV's FPS tie-preference order.
inline at::Tensor fps_preference_order(int64_t N, const at::TensorOptions& lopt) {
  // MMCV's opt_n_threads, same arithmetic (log ratio truncated to int).
  const int pow_2 = static_cast<int>(std::log(static_cast<double>(N)) / std::log(2.0));
  const int64_t bs = std::max<int64_t>(std::min<int64_t>(int64_t{1} << std::max(pow_2, 0), 1024), 1);
  int bits = 0;
  while ((int64_t{1} << bits) < bs) ++bits;  // host-side: log2(bs) <= 10
  const auto k = at::arange(N, lopt);
  const auto t = k.remainder(bs);
  auto rev = at::zeros_like(t);
  for (int i = 0; i < bits; ++i) {  // host-side: bit reversal over <= 10 bits
    rev = rev + t.div(int64_t{1} << i, "floor").remainder(2) * (int64_t{1} << (bits - 1 - i));
  }
  const int64_t per_thread = (N + bs - 1) / bs;
  return (rev * per_thread + k.div(bs, "floor")).argsort();
}

/// The shared sampling loop, in the permuted (preference) order. `next_dist(pos)` returns the
/// [B, N] distances, permuted, from the points at permuted positions pos [B]. Returns [B, m] int32
/// original indices.
template <typename DistFn>
inline at::Tensor fps_loop(int64_t B, int64_t N, int64_t m, const at::TensorOptions& fopt, const DistFn& next_dist,
                           const at::Tensor& perm) {
  const auto lopt = fopt.dtype(at::kLong);
  // [m, B]: row j holds the permuted positions chosen at step j (point 0 sits at position 0);
  // argmax writes straight into row j (contiguous), no copy or allocation per step.
  auto pos_all = at::zeros({m, B}, lopt);
  if (B > 0 && m > 1) {
    auto temp = at::full({B, N}, 1e10, fopt);
    for (int64_t j = 1; j < m; ++j) {  // host-side: FPS is sequential over the samples (no sync inside)
      at::fmin_out(temp, temp, next_dist(pos_all.select(0, j - 1)));
      auto row = pos_all.select(0, j);
      at::argmax_out(row, temp, 1);
    }
  }
  return perm.index_select(0, pos_all.t().reshape({-1})).view({B, m}).to(at::kInt);
}

}  // namespace detail

/// Furthest point sampling on xyz coordinates.
///
/// MMCV: `mmcv.ops.furthest_point_sample(points_xyz, num_points)` (CUDA kernel semantics)
///
/// @param points_xyz  Tensor[B, N, 3], float32 or float64 (MMCV: float32 only).
/// @param num_points  samples per batch, >= 0.
/// @return Tensor[B, num_points] int32: indices, the first is 0; exact distance ties resolved as
///         MMCV's CUDA reduction does. When fewer distinct points than samples remain, index 0
///         repeats (all temps 0), as MMCV. No gradient.
/// @throws c10::Error: wrong shape, non-floating dtype, num_points < 0, N = 0 with num_points > 0.
inline at::Tensor furthest_point_sample(const at::Tensor& points_xyz, int64_t num_points) {
  const char* op = "furthest_point_sample";
  detail::check_points(points_xyz, 3, op, "points_xyz");
  detail::check_non_negative(num_points, op, "num_points");
  const int64_t B = points_xyz.size(0), N = points_xyz.size(1);
  detail::check_arg(N > 0 || num_points == 0 || B == 0, op, "points_xyz", "have at least one point per batch", "N = 0");
  const auto lopt = points_xyz.options().dtype(at::kLong);
  if (B == 0 || num_points == 0) return at::zeros({B, num_points}, lopt.dtype(at::kInt));
  const auto pts = points_xyz.detach();
  const auto perm = detail::fps_preference_order(N, lopt);
  const auto planes = pts.permute({2, 0, 1}).index_select(2, perm).contiguous();  // [3, B, N], permuted
  auto diff = at::empty_like(planes);
  auto d = at::empty({B, N}, pts.options());
  auto last = at::empty({3, B, 1}, pts.options());
  const auto dist = [&](const at::Tensor& pos) {
    at::gather_out(last, planes, 2, pos.view({1, B, 1}).expand({3, B, 1}));  // [3, B, 1]
    at::sub_out(diff, planes, last);
    diff.mul_(diff);
    at::add_out(d, diff[0], diff[1]);  // (dx*dx + dy*dy) + dz*dz, MMCV's order
    return d.add_(diff[2]);
  };
  return detail::fps_loop(B, N, num_points, pts.options(), dist, perm);
}

/// Furthest point sampling on a precomputed distance matrix.
///
/// MMCV: `mmcv.ops.furthest_point_sample_with_dist(points_dist, num_points)` (CUDA semantics)
///
/// @param points_dist  Tensor[B, N, N], float32 or float64: points_dist[b, i, k] is the distance
///                     from point i to point k (used as given: the row of the last chosen point).
/// @param num_points   samples per batch, >= 0.
/// @return Tensor[B, num_points] int32, as furthest_point_sample.
/// @throws c10::Error: not [B, N, N], non-floating dtype, num_points < 0, N = 0 with num_points > 0.
inline at::Tensor furthest_point_sample_with_dist(const at::Tensor& points_dist, int64_t num_points) {
  const char* op = "furthest_point_sample_with_dist";
  detail::ShapeChecker sc(op);
  sc.check(points_dist, "points_dist", {"B", "N", "N"});
  detail::check_floating(points_dist, op, "points_dist");
  detail::check_non_negative(num_points, op, "num_points");
  const int64_t B = points_dist.size(0), N = points_dist.size(1);
  detail::check_arg(N > 0 || num_points == 0 || B == 0, op, "points_dist", "have at least one point per batch", "N = 0");
  const auto lopt = points_dist.options().dtype(at::kLong);
  if (B == 0 || num_points == 0) return at::zeros({B, num_points}, lopt.dtype(at::kInt));
  const auto dm = points_dist.detach();
  const auto perm = detail::fps_preference_order(N, lopt);
  const auto dist = [&](const at::Tensor& pos) {
    const auto orig = perm.index_select(0, pos);
    return dm.gather(1, orig.view({B, 1, 1}).expand({B, 1, N})).squeeze(1).index_select(1, perm);
  };
  return detail::fps_loop(B, N, num_points, dm.options(), dist, perm);
}

}  // namespace ops
}  // namespace mmcv
