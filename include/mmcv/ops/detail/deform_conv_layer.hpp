// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the four deformable-convolution layers (DeformConv2d, DeformConv2dPack,
// ModulatedDeformConv2d, ModulatedDeformConv2dPack) share: MMCV's constructor arguments, their
// checks, the weight's shape and the common part of the repr. Each layer derives from it next to
// torch::nn::Cloneable, so the arguments stay public members (`layer->in_channels`) and are copied
// by clone().
// IWYU pragma: private, include <mmcv/ops/deform_conv_module.hpp> or
// <mmcv/ops/modulated_deform_conv_module.hpp> instead.

#include <torch/expanding_array.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// MMCV's `in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
/// deform_groups` of the deformable-convolution layers, checked on construction: groups and
/// deform_groups positive, in_channels and out_channels divisible by groups (MMCV's asserts).
struct DeformConvLayerArgs {
  DeformConvLayerArgs(const char* op, int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size,
                      torch::ExpandingArray<2> stride, torch::ExpandingArray<2> padding,
                      torch::ExpandingArray<2> dilation, int64_t groups, int64_t deform_groups)
      : in_channels(in_channels),
        out_channels(out_channels),
        kernel_size(kernel_size),
        stride(stride),
        padding(padding),
        dilation(dilation),
        groups(groups),
        deform_groups(deform_groups) {
    check_positive(groups, op, "groups");
    check_positive(deform_groups, op, "deform_groups");
    check_arg(in_channels % groups == 0, op, "in_channels", "be divisible by groups (" + std::to_string(groups) + ")",
              in_channels);
    check_arg(out_channels % groups == 0, op, "out_channels",
              "be divisible by groups (" + std::to_string(groups) + ")", out_channels);
  }

  /// [out_channels, in_channels / groups, kh, kw], MMCV's weight shape.
  std::vector<int64_t> weight_shape() const {
    return {out_channels, in_channels / groups, (*kernel_size)[0], (*kernel_size)[1]};
  }

  /// Channels of conv_offset's output in the Pack layers: `per_tap` (2 offsets, or 3 with the mask)
  /// values per deform group and kernel tap.
  int64_t offset_channels(int64_t per_tap) const {
    return deform_groups * per_tap * (*kernel_size)[0] * (*kernel_size)[1];
  }

  /// `name(in_channels=.., out_channels=.., kernel_size=(.., ..), ..., deform_groups=..` as MMCV's
  /// repr; the layer appends its own tail (`, bias=...)`).
  void print_args(std::ostream& os, const char* name) const {
    os << name << "(in_channels=" << in_channels << ", out_channels=" << out_channels
       << ", kernel_size=" << py_pair((*kernel_size)[0], (*kernel_size)[1])
       << ", stride=" << py_pair((*stride)[0], (*stride)[1]) << ", padding=" << py_pair((*padding)[0], (*padding)[1])
       << ", dilation=" << py_pair((*dilation)[0], (*dilation)[1]) << ", groups=" << groups
       << ", deform_groups=" << deform_groups;
  }

  int64_t in_channels, out_channels;
  torch::ExpandingArray<2> kernel_size, stride, padding, dilation;
  int64_t groups, deform_groups;
};

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
