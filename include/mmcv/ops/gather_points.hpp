// SPDX-License-Identifier: Apache-2.0
#pragma once
// Gather points by index. Mirrors mmcv/ops/gather_points.py (mmcv.ops.gather_points); MMCV has
// only a CUDA kernel (common/cuda/gather_points_cuda_kernel.cuh): out[b, c, m] =
// features[b, c, indices[b, m]], backward scatter-adds into the features.
//
// Strategy: one at::gather along the point axis with the indices broadcast over channels; its
// autograd is the scatter-add of MMCV's backward. Memory: the output only.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>

namespace mmcv {
namespace ops {

/// Select M of the N points of every batch.
///
/// MMCV: `mmcv.ops.gather_points(features, indices)` (CUDA kernel semantics)
///
/// @param features  Tensor[B, C, N], float32 or float64 (float16/bfloat16 too; differentiable).
/// @param indices   Tensor[B, M], any integer dtype (MMCV: int32), values in [0, N).
/// @return Tensor[B, C, M] in the dtype and on the device of features.
/// @throws c10::Error: wrong shapes, dtypes or devices; an index outside [0, N) (one host sync).
inline at::Tensor gather_points(const at::Tensor& features, const at::Tensor& indices) {
  const char* op = "gather_points";
  detail::ShapeChecker sc(op);
  sc.check(features, "features", {"B", "C", "N"});
  sc.check(indices, "indices", {"B", "M"});
  detail::check_floating(features, op, "features", /*allow_half=*/true);
  detail::check_integral(indices, op, "indices");
  detail::check_same_device(features, indices, op, "features", "indices");
  const int64_t B = features.size(0), C = features.size(1), N = features.size(2), M = indices.size(1);
  detail::check_index_range(indices, 0, N, op, "indices");
  return features.gather(2, indices.to(at::kLong).unsqueeze(1).expand({B, C, M}));
}

}  // namespace ops
}  // namespace mmcv
