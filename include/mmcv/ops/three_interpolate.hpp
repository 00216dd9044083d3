// SPDX-License-Identifier: Apache-2.0
#pragma once
// Weighted three-neighbour interpolation. Mirrors mmcv/ops/three_interpolate.py
// (mmcv.ops.three_interpolate); MMCV has only a CUDA kernel
// (common/cuda/three_interpolate_cuda_kernel.cuh): out[b, c, n] = w0 * f[b, c, i0] +
// w1 * f[b, c, i1] + w2 * f[b, c, i2], summed left to right; its backward scatter-adds
// grad_out * w into the features and returns no gradient for the weights.
//
// Strategy: three gathers along the point axis (each [B, C, n]) combined in MMCV's order. The
// gathers carry autograd (scatter-add, repeated indices accumulate); the weights are detached,
// as MMCV gives them no gradient. Memory: O(B * C * n), the size of the output.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>

namespace mmcv {
namespace ops {

/// Interpolate features of M points onto n points from three neighbours each.
///
/// MMCV: `mmcv.ops.three_interpolate(features, indices, weight)` (CUDA kernel semantics)
///
/// @param features  Tensor[B, C, M], float32 or float64 (differentiable).
/// @param indices   Tensor[B, n, 3], any integer dtype (MMCV: int32), values in [0, M).
/// @param weight    Tensor[B, n, 3], the dtype of features; used as given (no normalisation, no
///                  gradient: MMCV returns None for it).
/// @return Tensor[B, C, n] in the dtype and on the device of features.
/// @throws c10::Error: wrong shapes, dtypes or devices; an index outside [0, M) (one host sync).
inline at::Tensor three_interpolate(const at::Tensor& features, const at::Tensor& indices, const at::Tensor& weight) {
  const char* op = "three_interpolate";
  detail::ShapeChecker sc(op);
  sc.check(features, "features", {"B", "C", "M"});
  sc.check(indices, "indices", {"B", "n", "3"});
  sc.check(weight, "weight", {"B", "n", "3"});
  detail::check_floating(features, op, "features");
  detail::check_integral(indices, op, "indices");
  detail::check_same_dtype(features, weight, op, "features", "weight");
  detail::check_same_device(features, indices, op, "features", "indices");
  detail::check_same_device(features, weight, op, "features", "weight");
  const int64_t B = features.size(0), C = features.size(1), M = features.size(2), n = indices.size(1);
  detail::check_index_range(indices, 0, M, op, "indices");
  const auto idx = indices.to(at::kLong);
  const auto w = weight.detach();
  at::Tensor out;
  for (int64_t j = 0; j < 3; ++j) {  // host-side: the three neighbours, in MMCV's summation order
    const auto g = features.gather(2, idx.select(2, j).unsqueeze(1).expand({B, C, n}));
    const auto term = g * w.select(2, j).unsqueeze(1);
    out = j == 0 ? term : out + term;
  }
  return out;
}

}  // namespace ops
}  // namespace mmcv
