// SPDX-License-Identifier: Apache-2.0
#pragma once
// Deformable convolution (DCN v1). Mirrors mmcv/ops/deform_conv.py: the function
// mmcv.ops.deform_conv2d (DeformConv2dFunction.apply). Its modules DeformConv2d and
// DeformConv2dPack (MMCV's 'DCN') are in <mmcv/ops/deform_conv_module.hpp>.
//
// Header weight: ATen plus the autograd Function machinery (torch/csrc/autograd/custom_function.h,
// about +0.6 s of parsing over <ATen/ATen.h>); no torch::nn.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/deform_conv_autograd.hpp>

#include <cstdint>

namespace mmcv {
namespace ops {

/// Deformable 2-D convolution (DCN v1): each kernel tap samples the input at its regular grid
/// position plus a learned offset, bilinearly, then the samples are combined by the weight.
///
/// MMCV: `mmcv.ops.deform_conv2d(input, offset, weight, stride=1, padding=0, dilation=1, groups=1,
///        deform_groups=1, bias=False, im2col_step=32)`
///
/// @param input  Tensor[N, C, H, W], any real dtype (cast to offset's dtype, as MMCV does).
///               MMCV requires H >= kh and W >= kw (DeformConv2d pads smaller inputs).
/// @param offset Tensor[N, 2 * deform_groups * kh * kw, Ho, Wo], float32 or float64 (float16 /
///               bfloat16 off CPU); its dtype is the computation dtype. Channel layout per deform
///               group g and tap k = i * kw + j: channel (g * kh * kw + k) * 2 holds dy, the next dx
///               (torchvision's layout), so tap k of output pixel (ho, wo) samples
///               y = ho * stride_h - pad_h + i * dilation_h + dy, x = wo * stride_w - pad_w + j * dilation_w + dx.
/// @param weight Tensor[O, C / groups, kh, kw] (cast to offset's dtype).
/// @param stride, padding, dilation one int or a pair (h, w); stride, dilation > 0, padding >= 0.
/// @param groups        convolution groups: C and O divisible by it.
/// @param deform_groups offset groups: channel block c * deform_groups / C uses offset group
///                      c * deform_groups / C; C divisible by it.
/// @param bias          MMCV's flag, which must be false (no bias; see modulated_deform_conv2d).
/// @param im2col_step   images per chunk (> 0): bounds the memory of the sampled columns. MMCV
///                      asserts that min(im2col_step, N) divides N; here the last chunk is simply
///                      smaller (the result does not depend on the chunking).
/// @return Tensor[N, O, Ho, Wo], contiguous, offset's dtype, with
///         Ho = (H + 2 * pad_h - (dilation_h * (kh - 1) + 1)) / stride_h + 1 (Wo likewise).
/// @throws c10::Error (ValueError / TypeError) on wrong ranks or shapes, channel counts that do not
///         match groups / deform_groups / the offset layout, non-positive stride, dilation, groups,
///         deform_groups or im2col_step, negative padding, an empty output, input smaller than the
///         kernel, bias = true, a non-floating offset (or half on CPU), or tensors on different devices.
/// @note Sampling follows MMCV's DCN bilinear rule: a sample counts only if -1 < y < H and
///       -1 < x < W, and each of its four corners only if inside the map (zero padding); NaN/Inf
///       coordinates sample nothing. Gradients flow to input, offset and weight and match MMCV's
///       backward, including an offset gradient of exactly 0 for a sample on y = -1 or x = -1.
///       Differentiable once (a double backward raises, as MMCV's once_differentiable). Memory:
///       per chunk of S = im2col_step images, the sampled columns S * C * kh * kw * Ho * Wo plus a
///       padded input copy and index/weight entries (docs/ops/deform_conv.md); autograd saves only
///       the inputs and the backward recomputes the columns chunk by chunk. No host sync.
/// Example:
///   auto out = mmcv::ops::deform_conv2d(x, offset, weight, /*stride=*/1, /*padding=*/1);
inline at::Tensor deform_conv2d(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight,
                                at::IntArrayRef stride = 1, at::IntArrayRef padding = 0, at::IntArrayRef dilation = 1,
                                int64_t groups = 1, int64_t deform_groups = 1, bool bias = false,
                                int64_t im2col_step = 32) {
  constexpr const char* op = "deform_conv2d";
  detail::check_dim(input, 4, op, "input");  // MMCV's order: input rank, then the bias flag
  detail::check_arg(!bias, op, "bias", "be false (MMCV's deform_conv2d has no bias; modulated_deform_conv2d takes one)",
                    "true");
  const auto spec = detail::check_deform_conv_args(op, input, offset, nullptr, weight, nullptr, stride, padding,
                                                   dilation, groups, deform_groups, im2col_step,
                                                   /*mmcv_min_input_size=*/true);
  return detail::deform_conv_apply(input, offset, nullptr, weight, nullptr, spec);
}

}  // namespace ops
}  // namespace mmcv
