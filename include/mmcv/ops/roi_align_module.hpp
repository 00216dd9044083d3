// SPDX-License-Identifier: Apache-2.0
#pragma once
// The RoIAlign module of mmcv/ops/roi_align.py (mmcv.ops.RoIAlign) as a torch::nn::Module.
// It lives apart from <mmcv/ops/roi_align.hpp> because LibTorch's nn headers (torch/nn/module.h
// and the serialization headers it pulls in) add ~50% to the compile time of a translation unit
// that needs only the function (g++ 12, LibTorch 1.13: 8.9 s -> 13.5 s); <mmcv/ops.hpp> includes
// both. This header includes the function.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/roi_align.hpp>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind the RoIAlign holder (LibTorch's `FooImpl` / `Foo` pattern): holds MMCV's
/// constructor arguments as public members and calls mmcv::ops::roi_align in forward().
class RoIAlignImpl : public torch::nn::Cloneable<RoIAlignImpl> {
 public:
  /// MMCV: `RoIAlign(output_size, spatial_scale=1.0, sampling_ratio=0, pool_mode='avg',
  ///        aligned=True, use_torchvision=False)`. Arguments are checked here (op name "RoIAlign")
  ///        with the same rules as roi_align.
  explicit RoIAlignImpl(at::IntArrayRef output_size, double spatial_scale = 1.0, int64_t sampling_ratio = 0,
                        std::string pool_mode = "avg", bool aligned = true, bool use_torchvision = false)
      : spatial_scale(spatial_scale),
        sampling_ratio(sampling_ratio),
        pool_mode(std::move(pool_mode)),
        aligned(aligned),
        use_torchvision(use_torchvision) {
    constexpr const char* op = "RoIAlign";
    const auto hw = detail::pair_arg(output_size, op, "output_size");
    detail::check_positive(hw.first, op, "output_size");
    detail::check_positive(hw.second, op, "output_size");
    this->output_size = {hw.first, hw.second};
    detail::check_finite_scalar(static_cast<float>(spatial_scale), op, "spatial_scale");
    detail::check_non_negative(sampling_ratio, op, "sampling_ratio");
    detail::check_one_of(this->pool_mode, {"avg", "max"}, op, "pool_mode");
  }

  /// `RoIAlignImpl({7, 7}, ...)` (a braced list would otherwise also match the copy constructor).
  explicit RoIAlignImpl(std::initializer_list<int64_t> output_size, double spatial_scale = 1.0,
                        int64_t sampling_ratio = 0, std::string pool_mode = "avg", bool aligned = true,
                        bool use_torchvision = false)
      : RoIAlignImpl(at::IntArrayRef(output_size), spatial_scale, sampling_ratio, std::move(pool_mode), aligned,
                     use_torchvision) {}

  void reset() override {}

  /// input: Tensor[B, C, H, W]; rois: Tensor[K, 5] (batch_index, x1, y1, x2, y2). Returns
  /// Tensor[K, C, oh, ow]. With use_torchvision=true it computes what MMCV then calls,
  /// torchvision.ops.roi_align, which has no pool_mode: average pooling whatever pool_mode says
  /// (no torchvision dependency: our roi_align equals torchvision's for average pooling).
  at::Tensor forward(const at::Tensor& input, const at::Tensor& rois) {
    return roi_align(input, rois, output_size, spatial_scale, sampling_ratio, use_torchvision ? "avg" : pool_mode,
                     aligned);
  }

  /// MMCV's __repr__: `mmcv::ops::RoIAlign(output_size=(7, 7), spatial_scale=1.0, ...)`.
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::RoIAlign(output_size=" << detail::py_pair(output_size[0], output_size[1])
       << ", spatial_scale=" << detail::py_float(spatial_scale) << ", sampling_ratio=" << sampling_ratio
       << ", pool_mode=" << pool_mode << ", aligned=" << detail::py_bool(aligned)
       << ", use_torchvision=" << detail::py_bool(use_torchvision) << ")";
  }

  std::array<int64_t, 2> output_size{};  ///< (oh, ow), MMCV's _pair(output_size)
  double spatial_scale;
  int64_t sampling_ratio;
  std::string pool_mode;
  bool aligned;
  bool use_torchvision;
};

/// RoI Align layer (MMCV: `mmcv.ops.RoIAlign`), a torch::nn::ModuleHolder like torch::nn::Linear:
///   mmcv::ops::RoIAlign layer({7, 7}, /*spatial_scale=*/0.25, /*sampling_ratio=*/2);
///   at::Tensor out = layer(feats, rois);           // [K, C, 7, 7]
///   layer->pool_mode;                               // MMCV's attributes
///   model->register_module("roi_align", layer);     // as a submodule
class RoIAlign : public torch::nn::ModuleHolder<RoIAlignImpl> {
 public:
  /// Same arguments and defaults as MMCV's constructor (output_size: `7` or `{7, 7}`).
  explicit RoIAlign(at::IntArrayRef output_size, double spatial_scale = 1.0, int64_t sampling_ratio = 0,
                    const std::string& pool_mode = "avg", bool aligned = true, bool use_torchvision = false)
      : ModuleHolder(std::make_shared<RoIAlignImpl>(output_size, spatial_scale, sampling_ratio, pool_mode, aligned,
                                                    use_torchvision)) {}
  /// `RoIAlign layer({7, 7})` (a braced list would otherwise also match the copy constructor).
  explicit RoIAlign(std::initializer_list<int64_t> output_size, double spatial_scale = 1.0, int64_t sampling_ratio = 0,
                    const std::string& pool_mode = "avg", bool aligned = true, bool use_torchvision = false)
      : RoIAlign(at::IntArrayRef(output_size), spatial_scale, sampling_ratio, pool_mode, aligned, use_torchvision) {}
  /* implicit */ RoIAlign(std::shared_ptr<RoIAlignImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ RoIAlign(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
