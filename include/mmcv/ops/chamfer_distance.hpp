// SPDX-License-Identifier: Apache-2.0
#pragma once
// Chamfer distance between 2-D point sets. Mirrors mmcv/ops/chamfer_distance.py
// (mmcv.ops.chamfer_distance); MMCV has only CUDA kernels
// (common/cuda/chamfer_distance_cuda_kernel.cuh): for every point its nearest neighbour in the
// other set, squared distance (dx*dx + dy*dy) in the input dtype, first (lowest-index) strict
// minimum; a best initialised to 1e10 with index 0, so distances >= 1e10 read as 1e10 / index 0.
//
// Strategy: both directions tile over the query points (detail::points_tile_rows bounds the
// [B, q, M] distance tile by detail::kPointsTileBudget elements) and take a first-occurrence
// argmin. The returned distances are then recomputed from the chosen neighbours with
// differentiable ATen ops in the same arithmetic order (bit-identical values), so autograd gives
// d dist / d xyz through the chosen pairs. That is MMCV's gradient when N == M and the correct one
// when N != M, where MMCV's backward launches with N and M swapped (docs/differences.md).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>
#include <limits>
#include <tuple>

namespace mmcv {
namespace ops {
namespace detail {

/// Nearest neighbour (first minimum) in pts [B, M, 2] of every query [B, N, 2]: int64 [B, N];
/// queries whose best squared distance is >= 1e10 (or NaN everywhere) get index 0.
inline at::Tensor chamfer_nearest(const at::Tensor& query, const at::Tensor& pts) {
  const int64_t B = query.size(0), N = query.size(1), M = pts.size(1);
  auto idx = at::zeros({B, N}, query.options().dtype(at::kLong));
  if (B == 0 || N == 0 || M == 0) return idx;
  const int64_t step = points_tile_rows(B, M);
  for (int64_t n0 = 0; n0 < N; n0 += step) {  // host-side: loop over query tiles (bounded memory)
    const int64_t q = std::min(step, N - n0);
    auto d2 = points_sq_dist(query.narrow(1, n0, q), pts);
    d2.masked_fill_(at::isnan(d2), std::numeric_limits<double>::infinity());  // NaN never wins `d < best`
    const auto i = d2.argmin(2);  // first minimum
    const auto v = d2.gather(2, i.unsqueeze(2)).squeeze(2);
    idx.narrow(1, n0, q).copy_(i.masked_fill(~(v < 1e10), 0));
  }
  return idx;
}

/// Squared distance from each query to its chosen neighbour, differentiable, MMCV's order; >= 1e10
/// (or NaN) reads 1e10.
inline at::Tensor chamfer_pair_dist(const at::Tensor& query, const at::Tensor& pts, const at::Tensor& idx) {
  const int64_t B = query.size(0), N = query.size(1);
  const auto nb = pts.gather(1, idx.unsqueeze(2).expand({B, N, 2}));
  const auto dx = nb.select(2, 0) - query.select(2, 0), dy = nb.select(2, 1) - query.select(2, 1);
  const auto d = dx * dx + dy * dy;
  return at::where(d < 1e10, d, at::full({}, 1e10, d.options()));
}

}  // namespace detail

/// Chamfer distance: nearest-neighbour squared distances and indices in both directions.
///
/// MMCV: `mmcv.ops.chamfer_distance(xyz1, xyz2)` (CUDA kernel semantics)
///
/// @param xyz1  Tensor[B, N, 2], float32 or float64 (differentiable).
/// @param xyz2  Tensor[B, M, 2], same dtype, device and batch size (differentiable).
/// @return (dist1 Tensor[B, N], dist2 Tensor[B, M]: squared distances in the input dtype, not
///         reduced; idx1 Tensor[B, N], idx2 Tensor[B, M] int32). With M = 0 (N = 0) dist1
///         (dist2) and its indices are 0, as MMCV's zero-initialised outputs.
/// @throws c10::Error: not 2-D points, non-floating or mismatched dtypes, device or batch mismatch.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> chamfer_distance(const at::Tensor& xyz1,
                                                                                    const at::Tensor& xyz2) {
  const char* op = "chamfer_distance";
  detail::check_points(xyz1, 2, op, "xyz1");
  detail::check_points(xyz2, 2, op, "xyz2");
  detail::check_same_dtype(xyz1, xyz2, op, "xyz1", "xyz2");
  detail::check_same_device(xyz1, xyz2, op, "xyz1", "xyz2");
  detail::check_arg(xyz2.size(0) == xyz1.size(0), op, "xyz2",
                    "have the batch size of xyz1 (" + std::to_string(xyz1.size(0)) + ")", xyz2.size(0));
  const int64_t B = xyz1.size(0), N = xyz1.size(1), M = xyz2.size(1);
  const auto a = xyz1.detach().contiguous(), b = xyz2.detach().contiguous();
  const auto idx1 = detail::chamfer_nearest(a, b);
  const auto idx2 = detail::chamfer_nearest(b, a);
  at::Tensor dist1 = M == 0 ? at::zeros({B, N}, xyz1.options()) : detail::chamfer_pair_dist(xyz1, xyz2, idx1);
  at::Tensor dist2 = N == 0 ? at::zeros({B, M}, xyz2.options()) : detail::chamfer_pair_dist(xyz2, xyz1, idx2);
  return std::make_tuple(dist1, dist2, idx1.to(at::kInt), idx2.to(at::kInt));
}

}  // namespace ops
}  // namespace mmcv
