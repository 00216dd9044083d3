// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared internals of the point-cloud ops (knn, three_nn, ball_query, chamfer_distance,
// furthest_point_sample, grouping): MMCV-order squared distances, the query-tile plan that bounds
// every [queries, points] distance tile, and the stable k-smallest selection.
// IWYU pragma: private, include a point-cloud op header instead.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>

namespace mmcv {
namespace ops {
namespace detail {

/// Elements of one [B, q, N] distance tile (and of each same-sized temporary): the memory bound
/// of knn, three_nn, ball_query and chamfer_distance is O(kPointsTileBudget + B * N) elements
/// whatever the number of queries.
inline constexpr int64_t kPointsTileBudget = int64_t{1} << 22;

/// Query rows per tile for B batches of N points (at least 1).
inline int64_t points_tile_rows(int64_t B, int64_t N) {
  const int64_t per_row = checked_mul(std::max<int64_t>(1, B), std::max<int64_t>(1, N), "points", "B * N");
  return std::max<int64_t>(1, kPointsTileBudget / per_row);
}

/// Squared distances [B, q, N] between queries [B, q, D] and points [B, N, D], summed in MMCV's
/// kernel order (dx*dx + dy*dy) + dz*dz with dx = query.x - point.x, in the input dtype (each
/// step rounded as the CUDA kernels round it, so integer results derived from it match exactly).
inline at::Tensor points_sq_dist(const at::Tensor& query, const at::Tensor& points) {
  at::Tensor d2;
  for (int64_t j = 0; j < query.size(2); ++j) {  // host-side: loop over the D (2 or 3) coordinates
    auto d = query.select(2, j).unsqueeze(2) - points.select(2, j).unsqueeze(1);
    d.mul_(d);
    if (j == 0) {
      d2 = d;
    } else {
      d2.add_(d);
    }
  }
  return d2.contiguous();  // a no-op for contiguous inputs (callers make them so)
}

/// The k smallest entries of every row of d2 [R, N] in ascending (value, index) order, exactly
/// what a stable ascending sort gives (MMCV's strict `<` insertion keeps the earliest index among
/// equal distances). NaN sorts last (it is never "smaller"). Returns (values, int64 indices),
/// both [R, min(k, N)]. topk selects, a re-sort of the k winners orders them; rows where the
/// k-th value is tied beyond the k-th slot (rare) are redone with a stable sort of the row.
inline std::pair<at::Tensor, at::Tensor> smallest_k_stable(const at::Tensor& d2, int64_t k) {
  const int64_t R = d2.size(0), N = d2.size(1);
  k = std::min(k, N);
  if (k == 0 || R == 0) {
    return {at::empty({R, k}, d2.options()), at::empty({R, k}, d2.options().dtype(at::kLong))};
  }
  at::Tensor v, i;
  std::tie(v, i) = d2.topk(k, 1, /*largest=*/false, /*sorted=*/true);
  at::Tensor is, perm;
  std::tie(is, perm) = i.sort(1);
  at::Tensor vs = v.gather(1, perm), vv, p2;
  std::tie(vv, p2) = vs.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false);
  at::Tensor ii = is.gather(1, p2);
  const auto kth = vv.narrow(1, k - 1, 1);
  const auto over = (d2 <= kth).sum(1) > k;  // a tie straddles the k-th slot
  const auto rows = over.nonzero().view({-1});
  if (rows.size(0) > 0) {  // host-side: one size read per tile (rare path)
    at::Tensor sv, si;
    std::tie(sv, si) = d2.index_select(0, rows).sort(/*stable=*/true, /*dim=*/1, /*descending=*/false);
    vv.index_copy_(0, rows, sv.narrow(1, 0, k));
    ii.index_copy_(0, rows, si.narrow(1, 0, k));
  }
  return {vv, ii};
}

/// Common checks of a point set [B, N, D] argument.
inline void check_points(const at::Tensor& t, int64_t D, const char* op, const char* arg) {
  check_dim(t, 3, op, arg);
  TORCH_CHECK_VALUE(t.size(2) == D, op, ": expected ", arg, " to have shape [B, N, ", D, "], but got ",
                    shape_str(t.sizes()));
  check_floating(t, op, arg);
}

/// Index tensor values in [lo, hi) (one host sync; skipped for empty tensors).
inline void check_index_range(const at::Tensor& idx, int64_t lo, int64_t hi, const char* op, const char* arg) {
  if (idx.numel() == 0) return;
  const auto mm = at::stack({idx.min().to(at::kLong), idx.max().to(at::kLong)}).cpu();  // host-side: one sync to validate
  const int64_t mn = mm[0].item<int64_t>(), mx = mm[1].item<int64_t>();  // host-side: values already on the host
  TORCH_CHECK_VALUE(mn >= lo && mx < hi, op, ": expected ", arg, " to be in [", lo, ", ", hi - 1, "], but got ",
                    mn < lo ? mn : mx);
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
