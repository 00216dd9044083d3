// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the four deformable-convolution layers (DeformConv2d, DeformConv2dPack,
// ModulatedDeformConv2d, ModulatedDeformConv2dPack) share: MMCV's constructor arguments, their
// checks, the weight's shape and the common part of the repr. Each layer derives from it next to
// torch::nn::Cloneable, so the arguments stay public members (`layer->in_channels`) and are copied
// by clone().
// IWYU pragma: private, include <mmcv/ops/deform_conv_module.hpp> or
// <mmcv/ops/modulated_deform_conv_module.hpp> instead.

#include <ATen/ATen.h>
#include <torch/expanding_array.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/deform_conv_autograd.hpp>
#include <mmcv/ops/detail/module_repr.hpp>

#include <algorithm>
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
    // The layer's own arguments first, with its own messages (not conv_offset's or
    // kaiming_uniform_'s, which would fail later on an empty weight or a negative padding).
    check_positive(in_channels, op, "in_channels");
    check_positive(out_channels, op, "out_channels");
    check_positive(std::min((*kernel_size)[0], (*kernel_size)[1]), op, "kernel_size");
    check_positive(std::min((*stride)[0], (*stride)[1]), op, "stride");
    check_non_negative(std::min((*padding)[0], (*padding)[1]), op, "padding");
    check_positive(std::min((*dilation)[0], (*dilation)[1]), op, "dilation");
    check_positive(groups, op, "groups");
    check_positive(deform_groups, op, "deform_groups");
    checked_prod({deform_groups, 3, (*kernel_size)[0], (*kernel_size)[1]}, op,
                 "conv_offset's channels deform_groups * 3 * kh * kw");
    checked_prod({out_channels, in_channels / groups, (*kernel_size)[0], (*kernel_size)[1]}, op, "the weight's numel");
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
    return checked_prod({deform_groups, per_tap, (*kernel_size)[0], (*kernel_size)[1]}, "DeformConvLayer",
                        "conv_offset's channels");  // checked in the constructor: never throws
  }

  /// conv_offset(x) of the Pack layers, after the layer's own checks on x (rank, channels, dtype
  /// and device of the layer's weight, overflow-checked output size, output memory), so that a
  /// bad x or a huge stride / dilation / padding gets `op`'s message, never the inner Conv2d's
  /// (or oneDNN's). Equal to conv_offset->forward(x): a stride matters only with more than one
  /// output position (then any stride above the span is equal) and a dilation only with a kernel
  /// size > 1, so those are passed as the span + 1 and 1 then.
  at::Tensor pack_offsets(const char* op, const at::Tensor& x, const at::Tensor& layer_weight,
                          const at::Tensor& conv_weight, const at::Tensor& conv_bias, int64_t per_tap) const {
    check_dim(x, 4, op, "x");
    check_same_dtype(layer_weight, x, op, "weight", "x");
    check_same_device(layer_weight, x, op, "weight", "x");
    check_arg(x.size(1) == in_channels, op, "x", "have in_channels = " + std::to_string(in_channels) + " channels",
              x.size(1));
    int64_t out[2], st[2], dl[2];
    for (int a = 0; a < 2; ++a) {  // host-side: the two spatial axes
      const int64_t k = (*kernel_size)[a];
      out[a] = deform_conv_out_size(x.size(2 + a), (*padding)[a], (*dilation)[a], k, (*stride)[a], op);
      check_arg(out[a] > 0, op, "x",
                "be large enough for the dilated kernel after padding (output size would be " +
                    std::to_string(out[a]) + ")",
                shape_str(x.sizes()));
      dl[a] = k == 1 ? 1 : (*dilation)[a];
      // One output position: any stride above the span (padded size - dilated kernel) is equal.
      const int64_t span = x.size(2 + a) + 2 * (*padding)[a] - (dl[a] * (k - 1) + 1);  // checked above
      st[a] = out[a] == 1 ? std::min((*stride)[a], span + 1) : (*stride)[a];
    }
    checked_alloc({x.size(0), offset_channels(per_tap), out[0], out[1]}, static_cast<int64_t>(x.element_size()), op,
                  "conv_offset's output [N, channels, Ho, Wo] =");
    return at::conv2d(x, conv_weight, conv_bias, {st[0], st[1]}, {(*padding)[0], (*padding)[1]}, {dl[0], dl[1]});
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
