// SPDX-License-Identifier: Apache-2.0
#pragma once
// The RoIPool module of mmcv/ops/roi_pool.py (mmcv.ops.RoIPool) as a torch::nn::Module.
// It lives apart from <mmcv/ops/roi_pool.hpp> because LibTorch's nn headers add ~50% to the
// compile time of a translation unit that needs only the function; <mmcv/ops.hpp> includes both.
// This header includes the function.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/roi_pool.hpp>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind the RoIPool holder: MMCV's constructor arguments as public members;
/// forward() calls mmcv::ops::roi_pool.
class RoIPoolImpl : public torch::nn::Cloneable<RoIPoolImpl> {
 public:
  /// MMCV: `RoIPool(output_size, spatial_scale=1.0)`. Arguments are checked here (op name
  /// "RoIPool") with the same rules as roi_pool.
  explicit RoIPoolImpl(at::IntArrayRef output_size, double spatial_scale = 1.0) : spatial_scale(spatial_scale) {
    constexpr const char* op = "RoIPool";
    const auto hw = detail::pair_arg(output_size, op, "output_size");
    detail::check_positive(hw.first, op, "output_size");
    detail::check_positive(hw.second, op, "output_size");
    this->output_size = {hw.first, hw.second};
    detail::check_finite_scalar(static_cast<float>(spatial_scale), op, "spatial_scale");
  }

  /// `RoIPoolImpl({7, 7}, ...)` (a braced list would otherwise also match the copy constructor).
  explicit RoIPoolImpl(std::initializer_list<int64_t> output_size, double spatial_scale = 1.0)
      : RoIPoolImpl(at::IntArrayRef(output_size), spatial_scale) {}

  void reset() override {}

  /// input: Tensor[B, C, H, W]; rois: Tensor[K, 5] (batch_index, x1, y1, x2, y2). Returns
  /// Tensor[K, C, oh, ow].
  at::Tensor forward(const at::Tensor& input, const at::Tensor& rois) {
    return roi_pool(input, rois, output_size, spatial_scale);
  }

  /// MMCV's __repr__: `mmcv::ops::RoIPool(output_size=(7, 7), spatial_scale=1.0)`.
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::RoIPool(output_size=" << detail::py_pair(output_size[0], output_size[1])
       << ", spatial_scale=" << detail::py_float(spatial_scale) << ")";
  }

  std::array<int64_t, 2> output_size{};  ///< (oh, ow), MMCV's _pair(output_size)
  double spatial_scale;
};

/// RoI Pool layer (MMCV: `mmcv.ops.RoIPool`), a torch::nn::ModuleHolder like torch::nn::Linear:
///   mmcv::ops::RoIPool layer(7, /*spatial_scale=*/0.0625);
///   at::Tensor out = layer(feats, rois);  // [K, C, 7, 7]
class RoIPool : public torch::nn::ModuleHolder<RoIPoolImpl> {
 public:
  /// Same arguments and defaults as MMCV's constructor (output_size: `7` or `{7, 7}`).
  explicit RoIPool(at::IntArrayRef output_size, double spatial_scale = 1.0)
      : ModuleHolder(std::make_shared<RoIPoolImpl>(output_size, spatial_scale)) {}
  /// `RoIPool layer({7, 7})` (a braced list would otherwise also match the copy constructor).
  explicit RoIPool(std::initializer_list<int64_t> output_size, double spatial_scale = 1.0)
      : RoIPool(at::IntArrayRef(output_size), spatial_scale) {}
  /* implicit */ RoIPool(std::shared_ptr<RoIPoolImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ RoIPool(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
