// SPDX-License-Identifier: Apache-2.0
#pragma once
// k nearest neighbours. Mirrors mmcv/ops/knn.py (mmcv.ops.knn). MMCV has only a CUDA kernel
// (common/cuda/knn_cuda_kernel.cuh): a max-heap of k (squared distance, index) slots per centre,
// initialised to (1e10, 0), entered by a point iff its distance is strictly below the root, then
// heap-sorted ascending.
//
// Strategy: the centres are processed in tiles of q rows (detail::points_tile_rows, so a tile's
// [B, q, N] float distance matrix stays under detail::kPointsTileBudget elements); each tile's
// squared distances are computed in MMCV's arithmetic order and the k smallest are selected in
// ascending (distance, index) order (detail::smallest_k_stable). Slots the heap never fills (N < k,
// or distances >= 1e10, or NaN) hold index 0 at the end, as MMCV's. Among exactly equal distances
// MMCV's output order follows its heap and ours is the lowest index first
// (docs/differences.md#knn).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>
#include <optional>

namespace mmcv {
namespace ops {

/// k nearest neighbours of each centre among xyz (squared Euclidean distance).
///
/// MMCV: `mmcv.ops.knn(k, xyz, center_xyz=None, transposed=False)` (CUDA kernel semantics)
///
/// @param k           number of neighbours, 1 <= k < 100 (MMCV's assert).
/// @param xyz         Tensor[B, N, 3] points (Tensor[B, 3, N] when transposed), float32 or float64.
/// @param center_xyz  Tensor[B, npoint, 3] centres (Tensor[B, 3, npoint] when transposed), same
///                    dtype and device; std::nullopt means the points themselves.
/// @param transposed  inputs are channel-first.
/// @return Tensor[B, k, npoint] int32 on the input's device: idx[b, j, p] is the j-th nearest point
///         of centre p (ascending distance; exact ties lowest index first). Missing slots (N < k)
///         hold 0. No gradient (indices).
/// @throws c10::Error: k out of range, wrong ranks / last dim, non-floating or mismatched dtypes,
///         device or batch mismatch.
inline at::Tensor knn(int64_t k, const at::Tensor& xyz, const std::optional<at::Tensor>& center_xyz = std::nullopt,
                      bool transposed = false) {
  const char* op = "knn";
  detail::check_arg(k > 0 && k < 100, op, "k", "be in [1, 99]", k);
  detail::check_dim(xyz, 3, op, "xyz");
  auto pts = transposed ? xyz.transpose(1, 2) : xyz;
  detail::check_points(pts, 3, op, transposed ? "xyz (transposed)" : "xyz");
  at::Tensor ctr = pts;
  if (center_xyz.has_value()) {
    detail::check_dim(*center_xyz, 3, op, "center_xyz");
    ctr = transposed ? center_xyz->transpose(1, 2) : *center_xyz;
    detail::check_points(ctr, 3, op, transposed ? "center_xyz (transposed)" : "center_xyz");
    detail::check_same_dtype(pts, ctr, op, "xyz", "center_xyz");
    detail::check_same_device(pts, ctr, op, "xyz", "center_xyz");
    detail::check_arg(ctr.size(0) == pts.size(0), op, "center_xyz", "have the batch size of xyz (" +
                      std::to_string(pts.size(0)) + ")", ctr.size(0));
  }
  pts = pts.detach().contiguous();
  ctr = ctr.detach().contiguous();
  const int64_t B = pts.size(0), N = pts.size(1), P = ctr.size(1);
  auto out = at::zeros({B, P, k}, pts.options().dtype(at::kLong));
  const int64_t kk = std::min(k, N);
  if (B == 0 || P == 0 || kk == 0) return out.transpose(1, 2).contiguous().to(at::kInt);
  const int64_t step = detail::points_tile_rows(B, N);
  for (int64_t p0 = 0; p0 < P; p0 += step) {  // host-side: loop over centre tiles (bounded memory)
    const int64_t q = std::min(step, P - p0);
    const auto d2 = detail::points_sq_dist(ctr.narrow(1, p0, q), pts).view({B * q, N});
    at::Tensor v, i;
    std::tie(v, i) = detail::smallest_k_stable(d2, kk);
    // MMCV's heap never admits d2 >= 1e10 (nor NaN): such slots keep their initial index 0.
    i.masked_fill_(~(v < 1e10), 0);
    out.narrow(1, p0, q).narrow(2, 0, kk).copy_(i.view({B, q, kk}));
  }
  return out.transpose(1, 2).contiguous().to(at::kInt);
}

}  // namespace ops
}  // namespace mmcv
