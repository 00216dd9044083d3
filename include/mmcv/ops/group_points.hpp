// SPDX-License-Identifier: Apache-2.0
#pragma once
// Group point features by neighbour indices. Mirrors mmcv/ops/group_points.py: the function
// mmcv.ops.grouping_operation is here; the modules QueryAndGroup and GroupAll are in
// <mmcv/ops/group_points_module.hpp>. MMCV has only CUDA kernels
// (common/cuda/group_points_cuda_kernel.cuh, stack_group_points_cuda_kernel.cuh).
//
// Strategy: batch mode is one at::gather along the point axis of [B, C, N] with the
// [B, npoint * nsample] indices broadcast over channels. Stacked mode (MMCV >= 1.7, ragged
// batches concatenated) turns each batch-relative index into a row of the concatenated
// [N1 + N2 + ..., C] features (one host read of the batch counts) and index_selects the rows.
// Both carry autograd (scatter-add / index_add, repeated indices accumulate, as MMCV's atomicAdd
// backward). Memory: the output plus one int64 index per output column.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Host copy of a batch-count tensor [B] (one sync), checked non-negative and summing to `total`.
inline std::vector<int64_t> batch_counts(const at::Tensor& cnt, int64_t B, int64_t total, const char* op,
                                         const char* arg, const char* total_what) {
  check_dim(cnt, 1, op, arg);
  check_integral(cnt, op, arg);
  check_arg(cnt.size(0) == B, op, arg, std::string("have ") + std::to_string(B) + " entries (the batch size)",
            cnt.size(0));
  const auto host = cnt.to(at::kCPU, at::kLong).contiguous();  // host-side: one sync for the batch layout
  const int64_t* p = host.data_ptr<int64_t>();  // host-side: B counts
  std::vector<int64_t> v(p, p + B);
  int64_t sum = 0;
  for (int64_t c : v) {  // host-side: loop over the B batch counts
    check_arg(c >= 0, op, arg, "be non-negative", c);
    sum = checked_add(sum, c, op, arg);
  }
  check_arg(sum == total, op, arg, std::string("sum to ") + total_what + " (" + std::to_string(total) + ")", sum);
  return v;
}

}  // namespace detail

/// Gather the features of each group's points.
///
/// MMCV: `mmcv.ops.grouping_operation(features, indices, features_batch_cnt=None,
///        indices_batch_cnt=None)` (CUDA kernel semantics)
///
/// Batch mode (no batch counts):
/// @param features  Tensor[B, C, N], float32 or float64 (float16/bfloat16 too; differentiable).
/// @param indices   Tensor[B, npoint, nsample], any integer dtype (MMCV: int32), values in [0, N).
/// @return Tensor[B, C, npoint, nsample]: out[b, c, p, s] = features[b, c, indices[b, p, s]].
///
/// Stacked mode (both batch counts given):
/// @param features            Tensor[N1 + N2 + ..., C].
/// @param indices             Tensor[M1 + M2 + ..., nsample], batch-relative indices.
/// @param features_batch_cnt  Tensor[B] integer, (N1, N2, ...).
/// @param indices_batch_cnt   Tensor[B] integer, (M1, M2, ...).
/// @return Tensor[M1 + M2 + ..., C, nsample]: out[m, c, s] = features[start(b) + indices[m, s], c]
///         for the batch b of row m; an index outside [0, N_b) (e.g. stacked ball_query's -1 for
///         "no neighbour") gives 0 and no gradient (MMCV reads a neighbouring batch's row there).
/// @throws c10::Error: wrong shapes, dtypes or devices; batch-mode index out of range; batch
///         counts negative, of the wrong length or not summing to the row counts; only one count given.
inline at::Tensor grouping_operation(const at::Tensor& features, const at::Tensor& indices,
                                     const std::optional<at::Tensor>& features_batch_cnt = std::nullopt,
                                     const std::optional<at::Tensor>& indices_batch_cnt = std::nullopt) {
  const char* op = "grouping_operation";
  detail::check_arg(features_batch_cnt.has_value() == indices_batch_cnt.has_value(), op,
                    features_batch_cnt.has_value() ? "indices_batch_cnt" : "features_batch_cnt",
                    "be given together with the other batch count (stacked mode)", "only one of them");
  detail::check_floating(features, op, "features", /*allow_half=*/true);
  detail::check_integral(indices, op, "indices");
  detail::check_same_device(features, indices, op, "features", "indices");
  if (!features_batch_cnt.has_value()) {
    detail::ShapeChecker sc(op);
    sc.check(features, "features", {"B", "C", "N"});
    sc.check(indices, "indices", {"B", "npoint", "nsample"});
    const int64_t B = features.size(0), C = features.size(1), N = features.size(2);
    const int64_t P = indices.size(1), S = indices.size(2);
    detail::check_index_range(indices, 0, N, op, "indices");
    const int64_t PS = detail::checked_mul(P, S, op, "npoint * nsample");
    const auto idx = indices.to(at::kLong).reshape({B, 1, PS}).expand({B, C, PS});
    return features.gather(2, idx).view({B, C, P, S});
  }
  detail::check_dim(features, 2, op, "features");
  detail::check_dim(indices, 2, op, "indices");
  const int64_t Nt = features.size(0), C = features.size(1), M = indices.size(0), S = indices.size(1);
  const int64_t B = indices_batch_cnt->dim() == 1 ? indices_batch_cnt->size(0) : -1;
  const auto icnt = detail::batch_counts(*indices_batch_cnt, B, M, op, "indices_batch_cnt", "indices.size(0)");
  const auto fcnt = detail::batch_counts(*features_batch_cnt, B, Nt, op, "features_batch_cnt", "features.size(0)");
  const auto lopt = indices.options().dtype(at::kLong);
  std::vector<int64_t> fstart(B, 0);
  for (int64_t b = 1; b < B; ++b) fstart[b] = fstart[b - 1] + fcnt[b - 1];  // host-side: B batch offsets
  const auto icnt_t = at::tensor(icnt, at::kLong).to(indices.device());
  const auto row_batch = at::repeat_interleave(icnt_t);  // [M] batch of each index row
  const auto n_b = at::tensor(fcnt, at::kLong).to(indices.device()).index_select(0, row_batch).unsqueeze(1);
  const auto start = at::tensor(fstart, at::kLong).to(indices.device()).index_select(0, row_batch).unsqueeze(1);
  const auto idx = indices.to(at::kLong);
  const auto valid = (idx >= 0) & (idx < n_b);
  const auto rows = at::where(valid, start + idx, at::full({}, Nt, lopt));  // Nt: a zero dummy row
  const auto padded = at::cat({features, at::zeros({1, C}, features.options())}, 0);
  const int64_t MS = detail::checked_mul(M, S, op, "indices.numel()");
  return padded.index_select(0, rows.reshape({MS})).view({M, S, C}).permute({0, 2, 1}).contiguous();
}

}  // namespace ops
}  // namespace mmcv
