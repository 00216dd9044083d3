// SPDX-License-Identifier: Apache-2.0
#pragma once
// StyleGAN2's fused bias + leaky ReLU + scale. Mirrors mmcv/ops/fused_bias_leakyrelu.py: the
// function mmcv.ops.fused_bias_leakyrelu is here; the module FusedBiasLeakyReLU is in
// <mmcv/ops/fused_bias_leakyrelu_module.hpp>. The specification is MMCV's `bias_leakyrelu_ref`:
// y = leaky_relu(x + bias (broadcast on dim 1), negative_slope) * scale.
// Strategy: the bias_act core (detail::bias_act_core in <mmcv/ops/bias_act.hpp>) with act
// 'lrelu': one fused in-place chain without a gradient, ATen autograd (every order, input and
// bias) with one. Memory: the output plus at most one input-sized intermediate.

#include <ATen/ATen.h>

#include <mmcv/ops/bias_act.hpp>
#include <mmcv/ops/detail/check.hpp>

#include <cmath>
#include <string>

namespace mmcv {
namespace ops {

/// MMCV: `mmcv.ops.fused_bias_leakyrelu(input, bias, negative_slope=0.2, scale=2**0.5)`.
/// input: Tensor[N, C, ...] (at least 2-D), float32/float64 (float16/bfloat16 off CPU); bias:
/// Tensor[C] (cast to input's dtype, as MMCV's CUDA path). Returns input's shape and dtype;
/// differentiable in input and bias.
inline at::Tensor fused_bias_leakyrelu(const at::Tensor& input, const at::Tensor& bias, double negative_slope = 0.2,
                                       double scale = std::sqrt(2.0)) {
  constexpr const char* op = "fused_bias_leakyrelu";
  TORCH_CHECK_VALUE(input.dim() >= 2, op, ": expected input to have at least 2 dims [N, C, ...], but got ", input.dim(),
                    "-D tensor of shape ", detail::shape_str(input.sizes()));
  detail::check_floating(input, op, "input", /*allow_half=*/!input.is_cpu());
  detail::check_dim(bias, 1, op, "bias");
  detail::check_floating(bias, op, "bias", /*allow_half=*/!bias.is_cpu());
  detail::check_same_device(input, bias, op, "input", "bias");
  detail::check_arg(bias.size(0) == input.size(1), op, "bias",
                    "have input.size(1) = " + std::to_string(input.size(1)) + " elements", bias.size(0));
  detail::check_finite_scalar(negative_slope, op, "negative_slope");
  detail::check_finite_scalar(scale, op, "scale");
  return detail::bias_act_core(input, bias.to(input.scalar_type()), 1, "lrelu", negative_slope, scale, std::nullopt);
}

}  // namespace ops
}  // namespace mmcv
