// SPDX-License-Identifier: Apache-2.0
#pragma once
// PointsSampler of mmcv/ops/points_sampler.py (mmcv.ops.PointsSampler): furthest point sampling
// in consecutive ranges of the points, each with its own mode:
//   "D-FPS"  furthest_point_sample on xyz;
//   "F-FPS"  furthest_point_sample_with_dist on the squared cdist of [xyz, features^T]
//            (calc_square_dist(norm=False), as MMCV: an [B, n, n] matrix per range);
//   "FS"     F-FPS indices then D-FPS indices, concatenated.
// MMCV's class is an nn.Module without parameters or buffers; here it is a plain class with the
// same constructor and forward (no torch::nn dependency).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/furthest_point_sample.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {

class PointsSampler {
 public:
  /// MMCV: `PointsSampler(num_point, fps_mod_list=['D-FPS'], fps_sample_range_list=[-1])`. The
  /// three lists must have the same length; modes in {"D-FPS", "F-FPS", "FS"}; each range end is
  /// -1 (to the last point) or a point index.
  explicit PointsSampler(std::vector<int64_t> num_point, std::vector<std::string> fps_mod_list = {"D-FPS"},
                         std::vector<int64_t> fps_sample_range_list = {-1})
      : num_point(std::move(num_point)),
        fps_mod_list(std::move(fps_mod_list)),
        fps_sample_range_list(std::move(fps_sample_range_list)) {
    constexpr const char* op = "PointsSampler";
    detail::check_arg(!this->num_point.empty(), op, "num_point", "be non-empty", "an empty list");
    detail::check_arg(this->fps_mod_list.size() == this->num_point.size(), op, "fps_mod_list",
                      "have one entry per num_point entry (" + std::to_string(this->num_point.size()) + ")",
                      this->fps_mod_list.size());
    detail::check_arg(this->fps_sample_range_list.size() == this->num_point.size(), op, "fps_sample_range_list",
                      "have one entry per num_point entry (" + std::to_string(this->num_point.size()) + ")",
                      this->fps_sample_range_list.size());
    for (const auto& m : this->fps_mod_list) detail::check_one_of(m, {"D-FPS", "F-FPS", "FS"}, op, "fps_mod_list");  // host-side: config
    for (int64_t n : this->num_point) detail::check_non_negative(n, op, "num_point");  // host-side: config
  }

  /// points_xyz: Tensor[B, N, 3]; features: Tensor[B, C, N] (required by F-FPS and FS). float16
  /// inputs are computed in float32 (MMCV). Returns int32 Tensor[B, sum of the per-range sample
  /// counts] (FS ranges count twice), indices into the N points.
  at::Tensor forward(const at::Tensor& points_xyz, const std::optional<at::Tensor>& features = std::nullopt) const {
    constexpr const char* op = "PointsSampler";
    detail::check_dim(points_xyz, 3, op, "points_xyz");
    at::Tensor xyz = points_xyz.scalar_type() == at::kHalf ? points_xyz.to(at::kFloat) : points_xyz;
    std::optional<at::Tensor> feats;
    if (features.has_value()) {
      detail::check_dim(*features, 3, op, "features");
      feats = features->scalar_type() == at::kHalf ? features->to(at::kFloat) : *features;
    }
    const int64_t N = xyz.size(1);
    std::vector<at::Tensor> indices;
    int64_t last = 0;
    for (size_t r = 0; r < num_point.size(); ++r) {  // host-side: loop over the configured ranges
      const int64_t end_arg = fps_sample_range_list[r];
      detail::check_arg(end_arg < N, op, "fps_sample_range_list", "be less than the number of points (" +
                        std::to_string(N) + ")", end_arg);
      const int64_t start = last < 0 ? N + last : last;  // Python slice start (MMCV: [last:end])
      const int64_t end = end_arg == -1 ? N : end_arg;
      detail::check_arg(end >= start, op, "fps_sample_range_list",
                        "be increasing (range start " + std::to_string(start) + ")", end_arg);
      const auto px = xyz.narrow(1, start, end - start).contiguous();
      const std::string& mode = fps_mod_list[r];
      at::Tensor idx;
      if (mode == "D-FPS") {
        idx = furthest_point_sample(px, num_point[r]);
      } else {
        detail::check_arg(feats.has_value(), op, "features", "be given for " + mode + " sampling", "None");
        const auto pf = feats->narrow(2, start, end - start);
        const auto ff = at::cat({px, pf.transpose(1, 2)}, 2);
        const auto dist = at::cdist(ff, ff).square();
        idx = furthest_point_sample_with_dist(dist, num_point[r]);
        if (mode == "FS") idx = at::cat({idx, furthest_point_sample(px, num_point[r])}, 1);
      }
      indices.push_back(idx + static_cast<int32_t>(last));
      last = end_arg;  // MMCV: the next range starts at this range's end argument (and adds it)
    }
    return at::cat(indices, 1);
  }
  at::Tensor operator()(const at::Tensor& points_xyz, const std::optional<at::Tensor>& features = std::nullopt) const {
    return forward(points_xyz, features);
  }

  std::vector<int64_t> num_point;
  std::vector<std::string> fps_mod_list;
  std::vector<int64_t> fps_sample_range_list;
};

}  // namespace ops
}  // namespace mmcv
