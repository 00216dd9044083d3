// SPDX-License-Identifier: Apache-2.0
#pragma once
// Modulated deformable convolution (DCN v2). Mirrors mmcv/ops/modulated_deform_conv.py: the
// function mmcv.ops.modulated_deform_conv2d (ModulatedDeformConv2dFunction.apply). Its modules
// ModulatedDeformConv2d and ModulatedDeformConv2dPack (MMCV's 'DCNv2') are in
// <mmcv/ops/modulated_deform_conv_module.hpp>.
//
// Header weight: as <mmcv/ops/deform_conv.hpp> (ATen + the autograd Function machinery).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/deform_conv_autograd.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>

namespace mmcv {
namespace ops {

namespace detail {
/// Batch chunk of modulated_deform_conv2d (MMCV has no im2col_step here and samples one image at a
/// time): as many images as keep the sampled columns within 2^24 elements (64 MiB in float32),
/// at least one.
inline constexpr int64_t kModulatedColumnsBudget = int64_t{1} << 24;
inline int64_t modulated_im2col_step(const at::Tensor& input, const at::Tensor& weight, int64_t Ho, int64_t Wo) {
  const int64_t per_image = std::max<int64_t>(input.size(1) * weight.size(2) * weight.size(3) * Ho * Wo, 1);
  return std::max<int64_t>(kModulatedColumnsBudget / per_image, 1);
}
}  // namespace detail

/// Modulated deformable 2-D convolution (DCN v2): deformable convolution whose every sample is
/// also scaled by a mask value, plus an optional bias.
///
/// MMCV: `mmcv.ops.modulated_deform_conv2d(input, offset, mask, weight, bias=None, stride=1,
///        padding=0, dilation=1, groups=1, deform_groups=1)`
///
/// @param input  Tensor[N, C, H, W], any real dtype (cast to offset's dtype, as MMCV does).
/// @param offset Tensor[N, 2 * deform_groups * kh * kw, Ho, Wo], float32 or float64 (float16 /
///               bfloat16 off CPU); the computation dtype. Layout as deform_conv2d: per deform
///               group and tap k = i * kw + j, the pair (dy, dx).
/// @param mask   Tensor[N, deform_groups * kh * kw, Ho, Wo] (channel g * kh * kw + k), multiplies
///               the sample of tap k of deform group g (MMCV's Pack feeds sigmoid(logits)).
/// @param weight Tensor[O, C / groups, kh, kw].
/// @param bias   optional Tensor[O] added to every output pixel (std::nullopt: none).
/// @param stride, padding, dilation one int or a pair (h, w); stride, dilation > 0, padding >= 0.
/// @param groups, deform_groups as deform_conv2d.
/// @return Tensor[N, O, Ho, Wo], contiguous, offset's dtype.
/// @throws c10::Error (ValueError / TypeError) on wrong ranks or shapes (offset channels not
///         2 * deform_groups * kh * kw, mask channels not deform_groups * kh * kw, bias not [O]),
///         channel counts not divisible by groups / deform_groups, non-positive stride, dilation,
///         groups or deform_groups, negative padding, an empty output, a non-floating offset (or
///         half on CPU), or tensors on different devices.
/// @note DCN bilinear rule as deform_conv2d (sample only if -1 < y < H and -1 < x < W, corners
///       zero-padded; NaN/Inf coordinates sample nothing). Gradients flow to input, offset, mask,
///       weight and bias and match MMCV's backward (offset gradient 0 on y = -1 or x = -1).
///       Differentiable once. Unlike deform_conv2d, inputs smaller than the kernel are accepted
///       (MMCV's modulated kernel has no such check). Memory: the batch is processed in chunks whose
///       sampled columns stay within max(one image's C * kh * kw * Ho * Wo, 2^24) elements; autograd
///       saves only the inputs. No host sync.
/// Example:
///   auto out = mmcv::ops::modulated_deform_conv2d(x, offset, mask.sigmoid(), weight, bias, 1, 1);
inline at::Tensor modulated_deform_conv2d(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                                          const at::Tensor& weight,
                                          const std::optional<at::Tensor>& bias = std::nullopt,
                                          at::IntArrayRef stride = 1, at::IntArrayRef padding = 0,
                                          at::IntArrayRef dilation = 1, int64_t groups = 1, int64_t deform_groups = 1) {
  constexpr const char* op = "modulated_deform_conv2d";
  const at::Tensor* b = bias.has_value() && bias->defined() ? &*bias : nullptr;
  auto spec = detail::check_deform_conv_args(op, input, offset, &mask, weight, b, stride, padding, dilation, groups,
                                             deform_groups, /*im2col_step=*/1, /*mmcv_min_input_size=*/false);
  const auto d = detail::deform_conv_dims(input, weight, spec);
  spec.im2col_step = detail::modulated_im2col_step(input, weight, d.Ho, d.Wo);
  return detail::deform_conv_apply(input, offset, &mask, weight, b, spec);
}

}  // namespace ops
}  // namespace mmcv
