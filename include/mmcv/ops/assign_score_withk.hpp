// SPDX-License-Identifier: Apache-2.0
#pragma once
// PAConv's score-weighted feature assembly. Mirrors mmcv/ops/assign_score_withk.py
// (mmcv.ops.assign_score_withk); MMCV has only CUDA kernels
// (common/cuda/assign_score_withk_cuda_kernel.cuh):
//   out[b, o, n, k] = sum_m s[b, n, k, m] * p[b, kn, m, o] - s[b, n, k, m] * c[b, cn, m, o]
// with kn = knn_idx[b, n, k], cn = knn_idx[b, n, 0] (the centre); a kn outside [0, N) leaves the
// output 0 and contributes no gradient. The `aggregate` argument is validated ("sum", "avg",
// "max") and then ignored, exactly as MMCV's kernels ignore it.
//
// Strategy: a host loop over the M weight banks; for each, the [B * npoint * K, O] rows of the
// point and centre features are index_selected (kn, cn flattened with the batch) and combined
// with the bank's scores. Autograd through index_select / mul gives MMCV's three gradients
// (scores, point_features, center_features; the centre receives -s * g for every valid k).
// Memory: O(B * npoint * K * O) per bank, the size of the output.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>
#include <string>

namespace mmcv {
namespace ops {

/// Assemble point features with per-neighbour kernel scores (PAConv).
///
/// MMCV: `mmcv.ops.assign_score_withk(scores, point_features, center_features, knn_idx,
///        aggregate='sum')` (CUDA kernel semantics)
///
/// @param scores           Tensor[B, npoint, K, M], float32 or float64 (differentiable).
/// @param point_features   Tensor[B, N, M, O], same dtype (differentiable).
/// @param center_features  Tensor[B, N, M, O], same dtype (differentiable).
/// @param knn_idx          Tensor[B, npoint, K] integer (MMCV: int64); knn_idx[..., 0] is the
///                         centre and must be in [0, N); other entries outside [0, N) are skipped.
/// @param aggregate        "sum", "avg" or "max": accepted and ignored (MMCV's kernel ignores it).
/// @return Tensor[B, O, npoint, K] in the dtype and on the device of scores.
/// @throws c10::Error: wrong shapes, dtypes or devices; unknown aggregate; a centre index out of
///         range (one host sync).
inline at::Tensor assign_score_withk(const at::Tensor& scores, const at::Tensor& point_features,
                                     const at::Tensor& center_features, const at::Tensor& knn_idx,
                                     const std::string& aggregate = "sum") {
  const char* op = "assign_score_withk";
  detail::check_one_of(aggregate, {"sum", "avg", "max"}, op, "aggregate");
  detail::ShapeChecker sc(op);
  sc.check(scores, "scores", {"B", "npoint", "K", "M"});
  sc.check(point_features, "point_features", {"B", "N", "M", "O"});
  sc.check(center_features, "center_features", {"B", "N", "M", "O"});
  sc.check(knn_idx, "knn_idx", {"B", "npoint", "K"});
  detail::check_floating(scores, op, "scores");
  detail::check_same_dtype(scores, point_features, op, "scores", "point_features");
  detail::check_same_dtype(scores, center_features, op, "scores", "center_features");
  detail::check_integral(knn_idx, op, "knn_idx");
  detail::check_same_device(scores, point_features, op, "scores", "point_features");
  detail::check_same_device(scores, center_features, op, "scores", "center_features");
  detail::check_same_device(scores, knn_idx, op, "scores", "knn_idx");
  const int64_t B = scores.size(0), P = scores.size(1), K = scores.size(2), M = scores.size(3);
  const int64_t N = point_features.size(1), O = point_features.size(3);
  const int64_t R = detail::checked_prod({B, P, K}, op, "scores rows");
  if (R == 0 || O == 0) return at::zeros({B, O, P, K}, scores.options());
  const auto kidx = knn_idx.to(at::kLong);
  detail::check_index_range(kidx.select(2, 0), 0, N, op, "knn_idx[..., 0] (the centre)");
  const auto valid = (kidx >= 0) & (kidx < N);  // [B, P, K]
  const auto base = (at::arange(B, kidx.options()) * N).view({B, 1, 1});
  const auto krow = (base + kidx.masked_fill(~valid, 0)).reshape({R});
  const auto crow = (base + kidx.narrow(2, 0, 1)).expand({B, P, K}).reshape({R});
  const auto s = scores * valid.unsqueeze(3).to(scores.scalar_type());  // skipped neighbours: no output, no grad
  at::Tensor out;
  for (int64_t m = 0; m < M; ++m) {  // host-side: loop over the M weight banks
    const auto pm = point_features.select(2, m).reshape({B * N, O});
    const auto cm = center_features.select(2, m).reshape({B * N, O});
    const auto sm = s.select(3, m).reshape({R, 1});
    const auto term = pm.index_select(0, krow) * sm - cm.index_select(0, crow) * sm;
    out = m == 0 ? term : out + term;
  }
  if (M == 0) out = at::zeros({R, O}, scores.options());
  return out.view({B, P, K, O}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace ops
}  // namespace mmcv
