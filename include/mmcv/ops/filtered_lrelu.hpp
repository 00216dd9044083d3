// SPDX-License-Identifier: Apache-2.0
#pragma once
// Filtered leaky ReLU (StyleGAN3). Mirrors mmcv/ops/filtered_lrelu.py; the specification is
// MMCV's `_filtered_lrelu_ref`:
//   x = bias_act(input, bias)                                  (add the bias on dim 1)
//   x = upfirdn2d(x, filter_up, up=up, padding=padding, gain=up**2, flip_filter)
//   x = bias_act(x, act='lrelu', alpha=slope, gain=gain, clamp=clamp)
//   x = upfirdn2d(x, filter_down, down=down, flip_filter)
// Output [N, C, (H*up + py0 + py1 - (fuh-1) - (fdh-1) + down-1) // down, (W*up + ... ) // down].
// Strategy: exactly that composition, on this library's polyphase upfirdn2d (work proportional to
// the output of each stage, not to the zero-inserted image) and fused bias_act. MMCV's CUDA
// kernel (which stores sign bits and fuses the three stages) is not reproduced; values are the
// reference's. Autograd: upfirdn2d's Function (any order) and ATen's for the activation; the
// gradient reaches input and bias. Memory: the upsampled [N, C, H*up+..., W*up+...] tensor
// (twice with autograd: before and after the activation), as the reference.

#include <ATen/ATen.h>

#include <mmcv/ops/bias_act.hpp>
#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/upfirdn2d.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace mmcv {
namespace ops {

/// MMCV: `mmcv.ops.filtered_lrelu(input, filter_up=None, filter_down=None, bias=None, up=1, down=1,
/// padding=0, gain=sqrt(2), slope=0.2, clamp=None, flip_filter=False, use_custom_op=True)`.
/// input: Tensor[N, C, H, W] (float32/float64; float16/bfloat16 off CPU); filter_up / filter_down:
/// 1-D (separable) or 2-D FIR filters, nullopt = identity; bias: optional Tensor[C] of input's
/// dtype; up, down >= 1; padding: `p`, `{px, py}` or `{x0, x1, y0, y1}` (negative crops); gain > 0;
/// slope >= 0; clamp >= 0 or nullopt. use_custom_op is accepted and ignored.
inline at::Tensor filtered_lrelu(const at::Tensor& input, const std::optional<at::Tensor>& filter_up = std::nullopt,
                                 const std::optional<at::Tensor>& filter_down = std::nullopt,
                                 const std::optional<at::Tensor>& bias = std::nullopt, int64_t up = 1, int64_t down = 1,
                                 at::IntArrayRef padding = 0, double gain = std::sqrt(2.0), double slope = 0.2,
                                 std::optional<double> clamp = std::nullopt, bool flip_filter = false,
                                 bool use_custom_op = true) {
  (void)use_custom_op;
  constexpr const char* op = "filtered_lrelu";
  detail::check_dim(input, 4, op, "input");
  detail::check_floating(input, op, "input", /*allow_half=*/!input.is_cpu());
  detail::check_positive(up, op, "up");
  detail::check_positive(down, op, "down");
  const auto pad = detail::upfirdn_padding(padding, op);
  TORCH_CHECK_VALUE(std::isfinite(gain) && gain > 0, op, ": expected gain to be finite and > 0, but got ", gain);
  TORCH_CHECK_VALUE(std::isfinite(slope) && slope >= 0, op, ": expected slope to be finite and >= 0, but got ", slope);
  if (clamp.has_value()) {
    TORCH_CHECK_VALUE(*clamp >= 0, op, ": expected clamp to be >= 0 (or nullopt), but got ", *clamp);
  }
  at::Tensor b;
  if (bias.has_value() && bias->defined()) {
    b = *bias;
    detail::check_dim(b, 1, op, "bias");
    detail::check_same_dtype(input, b, op, "input", "bias");
    detail::check_same_device(input, b, op, "input", "bias");
    detail::check_arg(b.size(0) == input.size(1), op, "bias",
                      "have input.size(1) = " + std::to_string(input.size(1)) + " elements", b.size(0));
  }
  // The reference's four steps (bias_act with no bias and act 'linear' is the identity).
  auto x = b.defined() ? detail::bias_act_core(input, b, 1, "linear", 0.0, 1.0, std::nullopt) : input;
  x = detail::upfirdn2d_impl(x, filter_up, {up, up}, {1, 1}, pad, flip_filter,
                             static_cast<double>(detail::checked_mul(up, up, op, "up ** 2")), op);
  x = detail::bias_act_core(x, at::Tensor(), 1, "lrelu", slope, gain, clamp);
  return detail::upfirdn2d_impl(x, filter_down, {1, 1}, {down, down}, {0, 0, 0, 0}, flip_filter, 1.0, op);
}

}  // namespace ops
}  // namespace mmcv
