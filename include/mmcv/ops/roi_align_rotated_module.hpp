// SPDX-License-Identifier: Apache-2.0
#pragma once
// The RoIAlignRotated module of mmcv/ops/roi_align_rotated.py (mmcv.ops.RoIAlignRotated) as a
// torch::nn::Module. It lives apart from <mmcv/ops/roi_align_rotated.hpp> because LibTorch's nn
// headers add much compile time to a translation unit that needs only the function (as
// <mmcv/ops/roi_align_module.hpp>); <mmcv/ops.hpp> includes both. This header includes the
// function.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/roi_align_rotated.hpp>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind the RoIAlignRotated holder (LibTorch's `FooImpl` / `Foo` pattern): holds
/// MMCV's constructor arguments as public members and calls mmcv::ops::roi_align_rotated.
class RoIAlignRotatedImpl : public torch::nn::Cloneable<RoIAlignRotatedImpl> {
 public:
  /// MMCV: `RoIAlignRotated(output_size, spatial_scale, sampling_ratio=0, aligned=True,
  ///        clockwise=False)` (spatial_scale is required, as in MMCV). Arguments are checked here
  ///        (op name "RoIAlignRotated") with the same rules as roi_align_rotated.
  RoIAlignRotatedImpl(at::IntArrayRef output_size, double spatial_scale, int64_t sampling_ratio = 0,
                      bool aligned = true, bool clockwise = false)
      : spatial_scale(spatial_scale), sampling_ratio(sampling_ratio), aligned(aligned), clockwise(clockwise) {
    constexpr const char* op = "RoIAlignRotated";
    const auto hw = detail::pair_arg(output_size, op, "output_size");
    detail::check_positive(hw.first, op, "output_size");
    detail::check_positive(hw.second, op, "output_size");
    this->output_size = {hw.first, hw.second};
    detail::check_finite_scalar(static_cast<float>(spatial_scale), op, "spatial_scale");
    detail::check_non_negative(sampling_ratio, op, "sampling_ratio");
  }

  /// `RoIAlignRotatedImpl({7, 7}, 0.25)` (a braced list would otherwise be ambiguous).
  RoIAlignRotatedImpl(std::initializer_list<int64_t> output_size, double spatial_scale, int64_t sampling_ratio = 0,
                      bool aligned = true, bool clockwise = false)
      : RoIAlignRotatedImpl(at::IntArrayRef(output_size), spatial_scale, sampling_ratio, aligned, clockwise) {}

  void reset() override {}

  /// input: Tensor[B, C, H, W]; rois: Tensor[K, 6] (batch_index, cx, cy, w, h, angle).
  /// Returns Tensor[K, C, oh, ow].
  at::Tensor forward(const at::Tensor& input, const at::Tensor& rois) {
    return roi_align_rotated(input, rois, output_size, spatial_scale, sampling_ratio, aligned, clockwise);
  }

  /// MMCV's __repr__: `mmcv::ops::RoIAlignRotated(output_size=(7, 7), spatial_scale=0.125, ...)`.
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::RoIAlignRotated(output_size=" << detail::py_pair(output_size[0], output_size[1])
       << ", spatial_scale=" << detail::py_float(spatial_scale) << ", sampling_ratio=" << sampling_ratio
       << ", aligned=" << detail::py_bool(aligned) << ", clockwise=" << detail::py_bool(clockwise) << ")";
  }

  std::array<int64_t, 2> output_size{};  ///< (oh, ow), MMCV's _pair(output_size)
  double spatial_scale;
  int64_t sampling_ratio;
  bool aligned;
  bool clockwise;
};

/// Rotated RoI Align layer (MMCV: `mmcv.ops.RoIAlignRotated`), a torch::nn::ModuleHolder:
///   mmcv::ops::RoIAlignRotated layer({7, 7}, /*spatial_scale=*/0.125, /*sampling_ratio=*/2);
///   at::Tensor out = layer(feats, rois);  // [K, C, 7, 7]
///   layer->clockwise;                      // MMCV's attributes
class RoIAlignRotated : public torch::nn::ModuleHolder<RoIAlignRotatedImpl> {
 public:
  /// Same arguments and defaults as MMCV's constructor (output_size: `7` or `{7, 7}`).
  RoIAlignRotated(at::IntArrayRef output_size, double spatial_scale, int64_t sampling_ratio = 0, bool aligned = true,
                  bool clockwise = false)
      : ModuleHolder(
            std::make_shared<RoIAlignRotatedImpl>(output_size, spatial_scale, sampling_ratio, aligned, clockwise)) {}
  /// `RoIAlignRotated layer({7, 7}, 0.125)`.
  RoIAlignRotated(std::initializer_list<int64_t> output_size, double spatial_scale, int64_t sampling_ratio = 0,
                  bool aligned = true, bool clockwise = false)
      : RoIAlignRotated(at::IntArrayRef(output_size), spatial_scale, sampling_ratio, aligned, clockwise) {}
  /* implicit */ RoIAlignRotated(std::shared_ptr<RoIAlignRotatedImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ RoIAlignRotated(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
