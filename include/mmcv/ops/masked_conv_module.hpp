// SPDX-License-Identifier: Apache-2.0
#pragma once
// The MaskedConv2d module of mmcv/ops/masked_conv.py (mmcv.ops.MaskedConv2d, an nn.Conv2d) as a
// torch::nn::Module with nn.Conv2d's parameter names ("weight", "bias") and initialisation, so an
// MMCV state_dict loads by name. Apart from <mmcv/ops/masked_conv.hpp> because LibTorch's nn
// headers are heavy; this header includes the function.

#include <ATen/ATen.h>
#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/init.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/masked_conv.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind the MaskedConv2d holder.
class MaskedConv2dImpl : public torch::nn::Cloneable<MaskedConv2dImpl> {
 public:
  /// MMCV: `MaskedConv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
  /// groups=1, bias=True)` (nn.Conv2d's arguments). Checked here (op name "MaskedConv2d").
  MaskedConv2dImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                   torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
                   torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, bool bias = true)
      : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size), stride(stride),
        padding(padding), dilation(dilation), groups(groups), with_bias(bias) {
    constexpr const char* op = "MaskedConv2d";
    detail::check_positive(groups, op, "groups");
    detail::check_non_negative(in_channels, op, "in_channels");
    detail::check_non_negative(out_channels, op, "out_channels");
    detail::check_arg(in_channels % groups == 0, op, "in_channels", "be divisible by groups = " + std::to_string(groups),
                      in_channels);
    detail::check_arg(out_channels % groups == 0, op, "out_channels",
                      "be divisible by groups = " + std::to_string(groups), out_channels);
    for (int i = 0; i < 2; ++i) {
      detail::check_positive((*this->kernel_size)[i], op, "kernel_size");
      detail::check_positive((*this->stride)[i], op, "stride");
      detail::check_non_negative((*this->padding)[i], op, "padding");
      detail::check_positive((*this->dilation)[i], op, "dilation");
    }
    reset();
  }

  void reset() override {
    weight = register_parameter(
        "weight", torch::empty({out_channels, in_channels / groups, (*kernel_size)[0], (*kernel_size)[1]}));
    bias = with_bias ? register_parameter("bias", torch::empty({out_channels})) : at::Tensor();
    reset_parameters();
  }

  /// nn.Conv2d.reset_parameters: kaiming_uniform_(a = sqrt(5)); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  void reset_parameters() {
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
    if (bias.defined()) {
      const int64_t fan_in = (in_channels / groups) * (*kernel_size)[0] * (*kernel_size)[1];
      const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
      torch::nn::init::uniform_(bias, -bound, bound);
    }
  }

  /// input: Tensor[N, C, H, W]. Without a mask: the plain convolution (nn.Conv2d.forward, as MMCV).
  /// With mask Tensor[N, H, W]: masked_conv2d(input, mask, weight, bias, padding, stride); the mask
  /// path has no dilation or groups (MMCV's kernel ignores them silently; here they must be 1).
  at::Tensor forward(const at::Tensor& input, std::optional<at::Tensor> mask = std::nullopt) {
    if (!mask.has_value()) return at::conv2d(input, weight, bias, *stride, *padding, *dilation, groups);
    constexpr const char* op = "MaskedConv2d";
    detail::check_arg((*dilation)[0] == 1 && (*dilation)[1] == 1, op, "dilation", "be 1 when a mask is given",
                      detail::py_pair((*dilation)[0], (*dilation)[1]));
    detail::check_arg(groups == 1, op, "groups", "be 1 when a mask is given", groups);
    return masked_conv2d(input, *mask, weight, bias, *padding, *stride);
  }

  /// nn.Conv2d's repr style: `mmcv::ops::MaskedConv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), ...)`.
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::MaskedConv2d(" << in_channels << ", " << out_channels
       << ", kernel_size=" << detail::py_pair((*kernel_size)[0], (*kernel_size)[1])
       << ", stride=" << detail::py_pair((*stride)[0], (*stride)[1])
       << ", padding=" << detail::py_pair((*padding)[0], (*padding)[1])
       << ", dilation=" << detail::py_pair((*dilation)[0], (*dilation)[1]) << ", groups=" << groups
       << ", bias=" << detail::py_bool(with_bias) << ")";
  }

  int64_t in_channels, out_channels;
  torch::ExpandingArray<2> kernel_size, stride, padding, dilation;
  int64_t groups;
  bool with_bias;
  at::Tensor weight;  ///< [out_channels, in_channels / groups, kh, kw]
  at::Tensor bias;    ///< [out_channels] or undefined
};

/// MaskedConv2d layer (MMCV: `mmcv.ops.MaskedConv2d`):
///   mmcv::ops::MaskedConv2d conv(16, 32, 3, /*stride=*/1, /*padding=*/1);
///   at::Tensor y = conv(x, mask);   // or conv(x): the plain convolution
class MaskedConv2d : public torch::nn::ModuleHolder<MaskedConv2dImpl> {
 public:
  using torch::nn::ModuleHolder<MaskedConv2dImpl>::ModuleHolder;
  using Impl = MaskedConv2dImpl;
  MaskedConv2d(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
               torch::ExpandingArray<2> stride = 1, torch::ExpandingArray<2> padding = 0,
               torch::ExpandingArray<2> dilation = 1, int64_t groups = 1, bool bias = true)
      : ModuleHolder(std::make_shared<MaskedConv2dImpl>(in_channels, out_channels, kernel_size, stride, padding,
                                                        dilation, groups, bias)) {}
};

}  // namespace ops
}  // namespace mmcv
