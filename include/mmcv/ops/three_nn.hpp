// SPDX-License-Identifier: Apache-2.0
#pragma once
// Three nearest neighbours. Mirrors mmcv/ops/three_nn.py (mmcv.ops.three_nn); MMCV has only a CUDA
// kernel (common/cuda/three_nn_cuda_kernel.cuh): three running bests initialised to 1e40 (double)
// with index 0, replaced on a strict `<`, so the earliest index wins ties.
//
// Strategy: target points are processed in tiles (detail::points_tile_rows bounds the [B, q, M]
// distance tile by detail::kPointsTileBudget elements); squared distances in MMCV's arithmetic
// order, the 3 smallest in ascending (distance, index) order (detail::smallest_k_stable, which is
// exactly MMCV's strict-< insertion order), then sqrt. With M < 3 the unused slots keep index 0 and
// distance sqrt(T(1e40)) (inf in float32, 1e20 in float64), as MMCV's.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>
#include <tuple>

namespace mmcv {
namespace ops {

/// For every target point, its three nearest source points.
///
/// MMCV: `mmcv.ops.three_nn(target, source)` (CUDA kernel semantics)
///
/// @param target  Tensor[B, N, 3], float32 or float64.
/// @param source  Tensor[B, M, 3], same dtype, device and batch size.
/// @return (dist Tensor[B, N, 3] in the input dtype = Euclidean distances (sqrt of the squared
///         distance), idx Tensor[B, N, 3] int32), ascending; exact ties lowest index first.
///         No gradient (MMCV marks both outputs non-differentiable).
/// @throws c10::Error: wrong shapes, non-floating or mismatched dtypes, device mismatch.
inline std::tuple<at::Tensor, at::Tensor> three_nn(const at::Tensor& target, const at::Tensor& source) {
  const char* op = "three_nn";
  detail::check_points(target, 3, op, "target");
  detail::check_points(source, 3, op, "source");
  detail::check_same_dtype(target, source, op, "target", "source");
  detail::check_same_device(target, source, op, "target", "source");
  detail::check_arg(source.size(0) == target.size(0), op, "source",
                    "have the batch size of target (" + std::to_string(target.size(0)) + ")", source.size(0));
  const auto tgt = target.detach().contiguous(), src = source.detach().contiguous();
  const int64_t B = tgt.size(0), N = tgt.size(1), M = src.size(1);
  // MMCV's 1e40 initial bests, stored into T: inf in float32, 1e40 in float64 (sqrt -> 1e20).
  const double init = tgt.scalar_type() == at::kFloat ? static_cast<double>(static_cast<float>(1e40)) : 1e40;
  auto d2 = at::full({B, N, 3}, init, tgt.options());
  auto idx = at::zeros({B, N, 3}, tgt.options().dtype(at::kLong));
  const int64_t kk = std::min<int64_t>(3, M);
  if (B > 0 && N > 0 && kk > 0) {
    const int64_t step = detail::points_tile_rows(B, M);
    for (int64_t n0 = 0; n0 < N; n0 += step) {  // host-side: loop over target tiles (bounded memory)
      const int64_t q = std::min(step, N - n0);
      const auto d = detail::points_sq_dist(tgt.narrow(1, n0, q), src).view({B * q, M});
      at::Tensor v, i;
      std::tie(v, i) = detail::smallest_k_stable(d, kk);
      // NaN distances never pass MMCV's `d < best`: such slots keep (1e40, 0).
      const auto bad = at::isnan(v);
      v.masked_fill_(bad, init);
      i.masked_fill_(bad, 0);
      d2.narrow(1, n0, q).narrow(2, 0, kk).copy_(v.view({B, q, kk}));
      idx.narrow(1, n0, q).narrow(2, 0, kk).copy_(i.view({B, q, kk}));
    }
  }
  return std::make_tuple(d2.sqrt(), idx.to(at::kInt));
}

}  // namespace ops
}  // namespace mmcv
