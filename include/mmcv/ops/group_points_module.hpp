// SPDX-License-Identifier: Apache-2.0
#pragma once
// The QueryAndGroup and GroupAll modules of mmcv/ops/group_points.py as torch::nn::Modules (no
// parameters or buffers, like MMCV's). Kept apart from <mmcv/ops/group_points.hpp> because
// LibTorch's nn headers are heavy; <mmcv/ops.hpp> includes both.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/ball_query.hpp>
#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/group_points.hpp>
#include <mmcv/ops/knn.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// QueryAndGroup's uniform_sample: per row of idx [B, P, S], the sorted unique indices first, then
/// the remaining slots drawn uniformly from them (at::rand on the idx device; MMCV draws with
/// torch.randint, so the random slots differ from MMCV's stream). Returns (idx int32, unique
/// count float32 [B, P]).
inline std::pair<at::Tensor, at::Tensor> uniform_resample(const at::Tensor& idx) {
  const int64_t B = idx.size(0), P = idx.size(1), S = idx.size(2), R = B * P;
  const auto lopt = idx.options().dtype(at::kLong);
  if (R == 0 || S == 0) return {idx, at::zeros({B, P}, idx.options().dtype(at::kFloat))};
  const auto s = std::get<0>(idx.to(at::kLong).reshape({R, S}).sort(1));
  auto first = at::ones({R, S}, s.options().dtype(at::kBool));
  first.narrow(1, 1, S - 1).copy_(s.narrow(1, 1, S - 1) != s.narrow(1, 0, S - 1));
  const auto pos = first.cumsum(1) - 1;
  auto uniq = at::zeros({R, S + 1}, lopt);
  uniq.scatter_(1, at::where(first, pos, at::full({}, S, lopt)), s);
  const auto cnt = first.sum(1, /*keepdim=*/true);  // [R, 1] >= 1
  const auto pick = (at::rand({R, S}, idx.options().dtype(at::kFloat)) * cnt.to(at::kFloat)).to(at::kLong).clamp_max(cnt - 1);
  const auto slot = at::arange(S, lopt).unsqueeze(0);
  const auto out = at::where(slot < cnt, uniq.narrow(1, 0, S), uniq.gather(1, pick));
  return {out.view({B, P, S}).to(at::kInt), cnt.view({B, P}).to(at::kFloat)};
}

}  // namespace detail

class QueryAndGroupImpl : public torch::nn::Cloneable<QueryAndGroupImpl> {
 public:
  /// MMCV: `QueryAndGroup(max_radius, sample_num, min_radius=0., use_xyz=True,
  /// return_grouped_xyz=False, normalize_xyz=False, uniform_sample=False, return_unique_cnt=False,
  /// return_grouped_idx=False)`; max_radius = std::nullopt means kNN grouping.
  QueryAndGroupImpl(std::optional<double> max_radius, int64_t sample_num, double min_radius = 0,
                    bool use_xyz = true, bool return_grouped_xyz = false, bool normalize_xyz = false,
                    bool uniform_sample = false, bool return_unique_cnt = false, bool return_grouped_idx = false)
      : max_radius(max_radius),
        sample_num(sample_num),
        min_radius(min_radius),
        use_xyz(use_xyz),
        return_grouped_xyz(return_grouped_xyz),
        normalize_xyz(normalize_xyz),
        uniform_sample(uniform_sample),
        return_unique_cnt(return_unique_cnt),
        return_grouped_idx(return_grouped_idx) {
    constexpr const char* op = "QueryAndGroup";
    detail::check_arg(!return_unique_cnt || uniform_sample, op, "uniform_sample",
                      "be true when return_unique_cnt is true", "false");
    detail::check_arg(max_radius.has_value() || !normalize_xyz, op, "normalize_xyz",
                      "be false when max_radius is None (kNN grouping)", "true");
    detail::check_non_negative(sample_num, op, "sample_num");
  }

  void reset() override {}

  /// points_xyz: Tensor[B, N, 3]; center_xyz: Tensor[B, npoint, 3]; features: Tensor[B, C, N] or
  /// none. Returns {new_features [B, 3 + C (or C, or 3), npoint, sample_num], then grouped_xyz
  /// [B, 3, npoint, sample_num], unique_cnt [B, npoint] float32, grouped idx [B, npoint,
  /// sample_num] int32 -- each only when its return_* flag is set}, MMCV's tuple order.
  std::vector<at::Tensor> forward(const at::Tensor& points_xyz, const at::Tensor& center_xyz,
                                  const std::optional<at::Tensor>& features = std::nullopt) {
    constexpr const char* op = "QueryAndGroup";
    detail::check_arg(features.has_value() || use_xyz, op, "features", "be given when use_xyz is false", "None");
    at::Tensor idx = max_radius.has_value()
                         ? ball_query(min_radius, *max_radius, sample_num, points_xyz, center_xyz)
                         : knn(sample_num, points_xyz, center_xyz, false).transpose(1, 2).contiguous();
    at::Tensor unique_cnt;
    if (uniform_sample) std::tie(idx, unique_cnt) = detail::uniform_resample(idx);
    const auto grouped_xyz = grouping_operation(points_xyz.transpose(1, 2).contiguous(), idx);
    auto diff = grouped_xyz - center_xyz.transpose(1, 2).unsqueeze(-1);
    if (normalize_xyz) diff = diff / *max_radius;
    at::Tensor new_features = diff;
    if (features.has_value()) {
      const auto gf = grouping_operation(*features, idx);
      new_features = use_xyz ? at::cat({diff, gf}, 1) : gf;
    }
    std::vector<at::Tensor> ret{new_features};
    if (return_grouped_xyz) ret.push_back(grouped_xyz);
    if (return_unique_cnt) ret.push_back(unique_cnt);
    if (return_grouped_idx) ret.push_back(idx);
    return ret;
  }

  void pretty_print(std::ostream& os) const override { os << "mmcv::ops::QueryAndGroup()"; }

  std::optional<double> max_radius;
  int64_t sample_num;
  double min_radius;
  bool use_xyz, return_grouped_xyz, normalize_xyz, uniform_sample, return_unique_cnt, return_grouped_idx;
};

class QueryAndGroup : public torch::nn::ModuleHolder<QueryAndGroupImpl> {
 public:
  /// Same arguments and defaults as MMCV's constructor.
  QueryAndGroup(std::optional<double> max_radius, int64_t sample_num, double min_radius = 0, bool use_xyz = true,
                bool return_grouped_xyz = false, bool normalize_xyz = false, bool uniform_sample = false,
                bool return_unique_cnt = false, bool return_grouped_idx = false)
      : ModuleHolder(std::make_shared<QueryAndGroupImpl>(max_radius, sample_num, min_radius, use_xyz,
                                                         return_grouped_xyz, normalize_xyz, uniform_sample,
                                                         return_unique_cnt, return_grouped_idx)) {}
  /* implicit */ QueryAndGroup(std::shared_ptr<QueryAndGroupImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ QueryAndGroup(std::nullptr_t) : ModuleHolder(nullptr) {}
};

class GroupAllImpl : public torch::nn::Cloneable<GroupAllImpl> {
 public:
  /// MMCV: `GroupAll(use_xyz=True)`.
  explicit GroupAllImpl(bool use_xyz = true) : use_xyz(use_xyz) {}
  void reset() override {}

  /// xyz: Tensor[B, N, 3]; new_xyz: unused (MMCV's signature); features: Tensor[B, C, N] or none.
  /// Returns Tensor[B, 3 + C (or C, or 3), 1, N].
  at::Tensor forward(const at::Tensor& xyz, const std::optional<at::Tensor>& new_xyz = std::nullopt,
                     const std::optional<at::Tensor>& features = std::nullopt) {
    (void)new_xyz;
    const auto gx = xyz.transpose(1, 2).unsqueeze(2);
    if (!features.has_value()) return gx;
    const auto gf = features->unsqueeze(2);
    return use_xyz ? at::cat({gx, gf}, 1) : gf;
  }

  void pretty_print(std::ostream& os) const override { os << "mmcv::ops::GroupAll()"; }

  bool use_xyz;
};

class GroupAll : public torch::nn::ModuleHolder<GroupAllImpl> {
 public:
  explicit GroupAll(bool use_xyz = true) : ModuleHolder(std::make_shared<GroupAllImpl>(use_xyz)) {}
  /* implicit */ GroupAll(std::shared_ptr<GroupAllImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ GroupAll(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
