// SPDX-License-Identifier: Apache-2.0
#pragma once
// The modules ModulatedDeformConv2d and ModulatedDeformConv2dPack (MMCV's 'DCNv2') of
// mmcv/ops/modulated_deform_conv.py as torch::nn modules, with MMCV's parameter names and shapes so
// that MMCV state_dicts load by name. Kept apart from <mmcv/ops/modulated_deform_conv.hpp> for
// compile time, like <mmcv/ops/deform_conv_module.hpp>; <mmcv/ops.hpp> includes both. This header
// includes the function.

#include <ATen/ATen.h>
#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/utils.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/deform_conv_layer.hpp>
#include <mmcv/ops/modulated_deform_conv.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

namespace mmcv {
namespace ops {

// =================================================================================================
// Modules (torch::nn): parameter names and shapes as MMCV's, so MMCV state_dicts load by name
// =================================================================================================

namespace detail {
/// MMCV's ModulatedDeformConv2d.init_weights: weight ~ U(-stdv, stdv) with
/// stdv = 1 / sqrt(in_channels * kh * kw) (in_channels, not divided by groups), bias = 0.
inline void modulated_init_weights(at::Tensor& weight, at::Tensor& bias, int64_t in_channels) {
  torch::NoGradGuard no_grad;
  const double stdv = 1.0 / std::sqrt(static_cast<double>(in_channels * weight.size(2) * weight.size(3)));
  weight.uniform_(-stdv, stdv);
  if (bias.defined()) bias.zero_();
}
}  // namespace detail

/// Modulated deformable convolution layer taking offsets and mask as inputs.
///
/// MMCV: `mmcv.ops.ModulatedDeformConv2d(in_channels, out_channels, kernel_size, stride=1,
///        padding=0, dilation=1, groups=1, deform_groups=1, bias=True)`
///
/// Parameters (state_dict keys): `weight` [out_channels, in_channels / groups, kh, kw] and, when
/// bias, `bias` [out_channels]; initialised as MMCV's init_weights (weight ~ U(-stdv, stdv),
/// stdv = 1 / sqrt(in_channels * kh * kw); bias 0).
/// @throws c10::Error if in_channels or out_channels is not divisible by groups.
/// Example:
///   mmcv::ops::ModulatedDeformConv2d dcn(16, 32, 3, /*stride=*/1, /*padding=*/1);
///   auto y = dcn(x, offset, mask);  // offset [N, 18, H, W], mask [N, 9, H, W]
class ModulatedDeformConv2dImpl : public torch::nn::Cloneable<ModulatedDeformConv2dImpl>,
                                  public detail::DeformConvLayerArgs {
 public:
  ModulatedDeformConv2dImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                            torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                            torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1,
                            bool bias = true)
      : DeformConvLayerArgs("ModulatedDeformConv2d", in_channels, out_channels, kernel_size, stride, padding, dilation,
                            groups, deform_groups),
        with_bias(bias) {
    reset();
  }

  /// (Re)creates weight (and bias) and initialises them (MMCV: __init__ + init_weights).
  void reset() override {
    weight = register_parameter("weight", torch::empty(weight_shape()));
    bias = with_bias ? register_parameter("bias", torch::empty({out_channels})) : at::Tensor();
    init_weights();
  }

  void init_weights() { detail::modulated_init_weights(weight, bias, in_channels); }

  /// x [N, in_channels, H, W], offset [N, 2 * deform_groups * kh * kw, Ho, Wo],
  /// mask [N, deform_groups * kh * kw, Ho, Wo] -> [N, out_channels, Ho, Wo].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& mask) {
    return modulated_deform_conv2d(x, offset, mask, weight, with_bias ? std::optional<at::Tensor>(bias) : std::nullopt,
                                   *stride, *padding, *dilation, groups, deform_groups);
  }

  void pretty_print(std::ostream& os) const override {
    print_args(os, "mmcv::ops::ModulatedDeformConv2d");
    os << ", bias=" << detail::py_bool(with_bias) << ")";
  }

  bool with_bias;
  at::Tensor weight;  ///< [out_channels, in_channels / groups, kh, kw]
  at::Tensor bias;    ///< [out_channels], undefined without bias
};
/// Module holder (LibTorch's TORCH_MODULE, plus a constructor taking braced pairs such as
/// `{3, 1}`, which the forwarding holder constructor cannot deduce).
class ModulatedDeformConv2d : public torch::nn::ModuleHolder<ModulatedDeformConv2dImpl> {
 public:
  using torch::nn::ModuleHolder<ModulatedDeformConv2dImpl>::ModuleHolder;
  using Impl = ModulatedDeformConv2dImpl;
  ModulatedDeformConv2d(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                        torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                        torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1,
                        bool bias = true)
      : ModuleHolder(std::make_shared<ModulatedDeformConv2dImpl>(in_channels, out_channels, kernel_size, stride,
                                                                 padding, dilation, groups, deform_groups, bias)) {}
};

/// Modulated deformable convolution layer that predicts its offsets and mask with a regular
/// convolution (`conv_offset`, zero-initialised: a fresh layer has zero offsets and mask 0.5).
///
/// MMCV: `mmcv.ops.ModulatedDeformConv2dPack(in_channels, out_channels, kernel_size, stride=1,
///        padding=0, dilation=1, groups=1, deform_groups=1, bias=True)` (MODELS 'DCNv2')
///
/// Parameters (state_dict keys, in MMCV's order): `weight`, `bias` (when bias),
/// `conv_offset.weight` [3 * deform_groups * kh * kw, in_channels, kh, kw], `conv_offset.bias`
/// [3 * deform_groups * kh * kw]. forward(x): out = conv_offset(x); o1, o2, m = chunk(out, 3, 1);
/// offset = cat(o1, o2); mask = sigmoid(m); modulated_deform_conv2d(x, offset, mask, weight, bias, ...).
/// MMCV's version-1 key renaming (`<name>_offset.*`) is a Python load hook and is not reproduced.
/// Example:
///   mmcv::ops::ModulatedDeformConv2dPack dcn(16, 32, 3, /*stride=*/1, /*padding=*/1);
///   auto y = dcn(x);
class ModulatedDeformConv2dPackImpl : public torch::nn::Cloneable<ModulatedDeformConv2dPackImpl>,
                                      public detail::DeformConvLayerArgs {
 public:
  ModulatedDeformConv2dPackImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                                torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                                torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1,
                                bool bias = true)
      : DeformConvLayerArgs("ModulatedDeformConv2dPack", in_channels, out_channels, kernel_size, stride, padding,
                            dilation, groups, deform_groups),
        with_bias(bias) {
    reset();
  }

  /// (Re)creates the parameters in MMCV's order and initialisation sequence: weight / bias
  /// (init_weights), conv_offset (nn.Conv2d's own init), then init_weights again, which also
  /// zeroes conv_offset (MMCV calls it from both constructors).
  void reset() override {
    weight = register_parameter("weight", torch::empty(weight_shape()));
    bias = with_bias ? register_parameter("bias", torch::empty({out_channels})) : at::Tensor();
    detail::modulated_init_weights(weight, bias, in_channels);
    conv_offset = register_module(
        "conv_offset", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, offset_channels(3), kernel_size)
                                             .stride(stride)
                                             .padding(padding)
                                             .dilation(dilation)
                                             .bias(true)));
    init_weights();
  }

  /// MMCV: ModulatedDeformConv2dPack.init_weights (weight / bias as the base class, conv_offset zeroed).
  void init_weights() {
    detail::modulated_init_weights(weight, bias, in_channels);
    torch::NoGradGuard no_grad;
    conv_offset->weight.zero_();
    conv_offset->bias.zero_();
  }

  /// x [N, in_channels, H, W] -> [N, out_channels, Ho, Wo].
  at::Tensor forward(const at::Tensor& x) {
    const auto out =
        pack_offsets("ModulatedDeformConv2dPack", x, weight, conv_offset->weight, conv_offset->bias, 3);
    const auto parts = at::chunk(out, 3, 1);
    const auto offset = at::cat({parts[0], parts[1]}, 1);
    const auto mask = at::sigmoid(parts[2]);
    return modulated_deform_conv2d(x, offset, mask, weight, with_bias ? std::optional<at::Tensor>(bias) : std::nullopt,
                                   *stride, *padding, *dilation, groups, deform_groups);
  }

  void pretty_print(std::ostream& os) const override {
    print_args(os, "mmcv::ops::ModulatedDeformConv2dPack");
    os << ", bias=" << detail::py_bool(with_bias) << ")";
  }

  bool with_bias;
  at::Tensor weight;                       ///< [out_channels, in_channels / groups, kh, kw]
  at::Tensor bias;                         ///< [out_channels], undefined without bias
  torch::nn::Conv2d conv_offset{nullptr};  ///< in_channels -> 3 * deform_groups * kh * kw
};
/// Module holder (LibTorch's TORCH_MODULE, plus a constructor taking braced pairs such as
/// `{3, 1}`, which the forwarding holder constructor cannot deduce).
class ModulatedDeformConv2dPack : public torch::nn::ModuleHolder<ModulatedDeformConv2dPackImpl> {
 public:
  using torch::nn::ModuleHolder<ModulatedDeformConv2dPackImpl>::ModuleHolder;
  using Impl = ModulatedDeformConv2dPackImpl;
  ModulatedDeformConv2dPack(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                            torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                            torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1,
                            bool bias = true)
      : ModuleHolder(std::make_shared<ModulatedDeformConv2dPackImpl>(in_channels, out_channels, kernel_size, stride,
                                                                     padding, dilation, groups, deform_groups, bias)) {}
};

}  // namespace ops
}  // namespace mmcv
