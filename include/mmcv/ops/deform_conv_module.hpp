// SPDX-License-Identifier: Apache-2.0
#pragma once
// The modules DeformConv2d and DeformConv2dPack (MMCV's 'DCN') of mmcv/ops/deform_conv.py as
// torch::nn modules, with MMCV's parameter names and shapes so that MMCV state_dicts load by name.
// They live apart from <mmcv/ops/deform_conv.hpp> because LibTorch's nn headers (torch/nn/module.h,
// torch/nn/modules/conv.h and the serialization headers they pull in) add about 50% to the parse
// time of a translation unit that needs only the function (the roi ops are split the same way);
// <mmcv/ops.hpp> includes both. This header includes the function.

#include <ATen/ATen.h>
#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/utils.h>

#include <mmcv/ops/deform_conv.hpp>
#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/deform_conv_layer.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

namespace mmcv {
namespace ops {

// =================================================================================================
// Modules (torch::nn): parameter names and shapes as MMCV's, so MMCV state_dicts load by name
// =================================================================================================

/// Deformable convolution layer taking the offsets as a second input.
///
/// MMCV: `mmcv.ops.DeformConv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
///        dilation=1, groups=1, deform_groups=1, bias=False, im2col_step=32)`
///
/// Parameters (state_dict keys): `weight` [out_channels, in_channels / groups, kh, kw], initialised
/// with kaiming_uniform_(nonlinearity='relu') as MMCV's reset_parameters.
/// forward(x, offset): deform_conv2d with the layer's arguments; like MMCV, an input smaller than
/// the kernel is zero-padded at the bottom / right (offset too) and the output cropped back.
/// @throws c10::Error if bias is true or in_channels / out_channels are not divisible by groups.
/// Example:
///   mmcv::ops::DeformConv2d dcn(16, 32, 3, /*stride=*/1, /*padding=*/1);
///   auto y = dcn(x, offset);  // offset [N, 18, H, W]
class DeformConv2dImpl : public torch::nn::Cloneable<DeformConv2dImpl>,
                         public detail::DeformConvLayerArgs {
 public:
  DeformConv2dImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                   torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                   torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1,
                   bool bias = false, int64_t im2col_step = 32)
      : DeformConvLayerArgs("DeformConv2d", in_channels, out_channels, kernel_size, stride, padding, dilation,
                            groups, deform_groups),
        im2col_step(im2col_step) {
    constexpr const char* op = "DeformConv2d";
    detail::check_arg(!bias, op, "bias", "be false (MMCV's DeformConv2d has no bias)", "true");
    reset();
  }

  /// (Re)creates `weight` and initialises it (MMCV: __init__ + reset_parameters).
  void reset() override {
    weight = register_parameter("weight", torch::empty(weight_shape()));
    reset_parameters();
  }

  /// kaiming_uniform_(weight, nonlinearity='relu'), as MMCV.
  void reset_parameters() {
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(weight, /*a=*/0, torch::kFanIn, torch::kReLU);
  }

  /// x [N, in_channels, H, W], offset [N, 2 * deform_groups * kh * kw, Ho, Wo] -> [N, out_channels, Ho, Wo].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& offset) {
    const int64_t kh = (*kernel_size)[0], kw = (*kernel_size)[1];
    const bool pad = x.dim() == 4 && (x.size(2) < kh || x.size(3) < kw);
    if (!pad) return call(x, offset);
    // MMCV: zero-pad input and offset at the bottom / right up to the kernel size, crop the output.
    const int64_t pad_h = std::max<int64_t>(kh - x.size(2), 0), pad_w = std::max<int64_t>(kw - x.size(3), 0);
    const auto out =
        call(at::constant_pad_nd(x, {0, pad_w, 0, pad_h}, 0), at::constant_pad_nd(offset, {0, pad_w, 0, pad_h}, 0));
    return out.narrow(2, 0, out.size(2) - pad_h).narrow(3, 0, out.size(3) - pad_w).contiguous();
  }

  void pretty_print(std::ostream& os) const override {
    print_args(os, "mmcv::ops::DeformConv2d");
    os << ", bias=False, im2col_step=" << im2col_step << ")";
  }

  int64_t im2col_step;
  at::Tensor weight;  ///< [out_channels, in_channels / groups, kh, kw]

 private:
  at::Tensor call(const at::Tensor& x, const at::Tensor& offset) const {
    return deform_conv2d(x, offset, weight, *stride, *padding, *dilation, groups, deform_groups, false, im2col_step);
  }
};
/// Module holder (LibTorch's TORCH_MODULE, plus a constructor taking braced pairs such as
/// `{3, 1}`, which the forwarding holder constructor cannot deduce).
class DeformConv2d : public torch::nn::ModuleHolder<DeformConv2dImpl> {
 public:
  using torch::nn::ModuleHolder<DeformConv2dImpl>::ModuleHolder;
  using Impl = DeformConv2dImpl;
  DeformConv2d(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
               torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
               torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1, bool bias = false,
               int64_t im2col_step = 32)
      : ModuleHolder(std::make_shared<DeformConv2dImpl>(in_channels, out_channels, kernel_size, stride, padding,
                                                        dilation, groups, deform_groups, bias, im2col_step)) {}
};

/// Deformable convolution layer that predicts its own offsets with a regular convolution
/// (`conv_offset`, zero-initialised, so a fresh layer behaves as a plain convolution).
///
/// MMCV: `mmcv.ops.DeformConv2dPack(in_channels, out_channels, kernel_size, stride=1, padding=0,
///        dilation=1, groups=1, deform_groups=1, bias=False, im2col_step=32)` (MODELS 'DCN')
///
/// Parameters (state_dict keys, in MMCV's order): `weight` [out_channels, in_channels / groups,
/// kh, kw]; `conv_offset.weight` [2 * deform_groups * kh * kw, in_channels, kh, kw];
/// `conv_offset.bias` [2 * deform_groups * kh * kw]. conv_offset has the layer's kernel size,
/// stride, padding and dilation (groups 1). MMCV's version-1 key renaming (`<name>_offset.*`) is a
/// Python load hook and is not reproduced: rename such keys before loading.
/// forward(x) = deform_conv2d(x, conv_offset(x), weight, ...) (no small-input padding, as MMCV).
/// Example:
///   mmcv::ops::DeformConv2dPack dcn(16, 32, 3, /*stride=*/1, /*padding=*/1);
///   auto y = dcn(x);
class DeformConv2dPackImpl : public torch::nn::Cloneable<DeformConv2dPackImpl>,
                             public detail::DeformConvLayerArgs {
 public:
  DeformConv2dPackImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                       torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                       torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1,
                       bool bias = false, int64_t im2col_step = 32)
      : DeformConvLayerArgs("DeformConv2dPack", in_channels, out_channels, kernel_size, stride, padding, dilation,
                            groups, deform_groups),
        im2col_step(im2col_step) {
    constexpr const char* op = "DeformConv2dPack";
    detail::check_arg(!bias, op, "bias", "be false (MMCV's DeformConv2dPack has no bias)", "true");
    reset();
  }

  /// (Re)creates the parameters in MMCV's order and initialisation sequence: weight
  /// (kaiming_uniform_, relu), conv_offset (nn.Conv2d's own init, then zeroed).
  void reset() override {
    weight = register_parameter("weight", torch::empty(weight_shape()));
    {
      torch::NoGradGuard no_grad;
      torch::nn::init::kaiming_uniform_(weight, /*a=*/0, torch::kFanIn, torch::kReLU);
    }
    conv_offset = register_module(
        "conv_offset", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, offset_channels(2), kernel_size)
                                             .stride(stride)
                                             .padding(padding)
                                             .dilation(dilation)
                                             .bias(true)));
    init_offset();
  }

  /// Zeroes conv_offset (MMCV: init_offset).
  void init_offset() {
    torch::NoGradGuard no_grad;
    conv_offset->weight.zero_();
    conv_offset->bias.zero_();
  }

  /// x [N, in_channels, H, W] -> [N, out_channels, Ho, Wo].
  at::Tensor forward(const at::Tensor& x) {
    const auto offset = pack_offsets("DeformConv2dPack", x, weight, conv_offset->weight, conv_offset->bias, 2);
    return deform_conv2d(x, offset, weight, *stride, *padding, *dilation, groups, deform_groups, false, im2col_step);
  }

  void pretty_print(std::ostream& os) const override {
    print_args(os, "mmcv::ops::DeformConv2dPack");
    os << ", bias=False, im2col_step=" << im2col_step << ")";
  }

  int64_t im2col_step;
  at::Tensor weight;                       ///< [out_channels, in_channels / groups, kh, kw]
  torch::nn::Conv2d conv_offset{nullptr};  ///< in_channels -> 2 * deform_groups * kh * kw
};
/// Module holder (LibTorch's TORCH_MODULE, plus a constructor taking braced pairs such as
/// `{3, 1}`, which the forwarding holder constructor cannot deduce).
class DeformConv2dPack : public torch::nn::ModuleHolder<DeformConv2dPackImpl> {
 public:
  using torch::nn::ModuleHolder<DeformConv2dPackImpl>::ModuleHolder;
  using Impl = DeformConv2dPackImpl;
  DeformConv2dPack(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                   torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                   torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, int64_t deform_groups = 1,
                   bool bias = false, int64_t im2col_step = 32)
      : ModuleHolder(std::make_shared<DeformConv2dPackImpl>(in_channels, out_channels, kernel_size, stride, padding,
                                                            dilation, groups, deform_groups, bias, im2col_step)) {}
};

}  // namespace ops
}  // namespace mmcv
