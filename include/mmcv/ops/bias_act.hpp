// SPDX-License-Identifier: Apache-2.0
#pragma once
// Fused bias + activation + gain + clamp. Mirrors mmcv/ops/bias_act.py; the specification is
// MMCV's `_bias_act_ref`: y = clamp(act(x + b) * gain, -clamp, clamp) with MMCV's activation_funcs
// table (linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish), per-activation default
// alpha (0.2 for lrelu, else 0; only lrelu uses it) and gain (sqrt(2) for relu, lrelu and swish,
// else 1); the clamp comes after the gain.
//
// Strategy: the reference's element-wise ATen passes, fused where autograd allows: without a
// gradient to record, one new tensor (x + b, or a copy of x) is updated in place by the
// activation, the gain and the clamp; with a gradient, relu / lrelu take the gain first (act(g x)
// = g act(x) for g > 0) in place on the fresh x + b, and the other steps are out of place (their
// backward formulas read the values they produce). Autograd is ATen's: gradients of every order
// the ATen ops have (second order included) for input and bias.
// Memory: the output plus, with a gradient, up to two input-sized intermediates.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// MMCV's activation_funcs: default alpha / gain per activation.
inline double bias_act_default_alpha(const std::string& act) { return act == "lrelu" ? 0.2 : 0.0; }
inline double bias_act_default_gain(const std::string& act) {
  return (act == "relu" || act == "lrelu" || act == "swish") ? std::sqrt(2.0) : 1.0;
}

/// The shared core of bias_act and fused_bias_leakyrelu (arguments checked by the caller except
/// the activation's own values).
inline at::Tensor bias_act_core(const at::Tensor& input, const at::Tensor& bias, int64_t dim, const std::string& act,
                                double alpha, double gain, std::optional<double> clamp) {
  const bool has_bias = bias.defined();
  const bool need_grad = at::GradMode::is_enabled() && (input.requires_grad() || (has_bias && bias.requires_grad()));
  at::Tensor y = input;
  bool owned = false;  // y is a tensor made here (safe to update in place)
  if (has_bias) {
    std::vector<int64_t> shape(static_cast<size_t>(input.dim()), 1);
    shape[static_cast<size_t>(dim)] = -1;
    y = input + bias.view(shape);
    owned = true;
  }
  const bool fused = !need_grad;  // every step in place on one owned tensor
  auto own = [&]() {
    if (!owned) {
      y = y.clone(at::MemoryFormat::Preserve);
      owned = true;
    }
  };
  bool gain_done = gain == 1;
  if (act == "relu" || act == "lrelu") {
    if (gain > 0 && !gain_done) {  // act(g x) = g act(x)
      if (owned) y.mul_(gain);
      else y = y * gain;
      owned = true;
      gain_done = true;
    }
    const double slope = act == "relu" ? 0.0 : alpha;
    if (fused) {
      own();
      if (act == "relu") y.relu_();
      else at::leaky_relu_(y, slope);
    } else {
      y = act == "relu" ? at::relu(y) : at::leaky_relu(y, slope);
    }
  } else if (act != "linear") {
    if (fused) own();
    if (act == "tanh") y = fused ? y.tanh_() : at::tanh(y);
    else if (act == "sigmoid") y = fused ? y.sigmoid_() : at::sigmoid(y);
    else if (act == "elu") y = fused ? at::elu_(y) : at::elu(y);
    else if (act == "selu") y = fused ? at::selu_(y) : at::selu(y);
    else if (act == "softplus") y = at::softplus(y);
    else if (act == "swish") y = fused ? y.mul_(at::sigmoid(y)) : at::sigmoid(y) * y;
    owned = true;
  }
  if (!gain_done) {
    if (fused) {
      own();
      y.mul_(gain);
    } else {
      y = y * gain;
    }
    owned = true;
  }
  if (clamp.has_value() && *clamp >= 0) {
    if (fused) {
      own();
      y.clamp_(-*clamp, *clamp);
    } else {
      y = y.clamp(-*clamp, *clamp);
    }
  }
  return y;
}

}  // namespace detail

/// MMCV: `mmcv.ops.bias_act(input, bias=None, dim=1, act='linear', alpha=None, gain=None, clamp=None,
/// use_custom_op=True)`. input: any shape, float32/float64 (float16/bfloat16 off CPU); bias:
/// optional Tensor[input.size(dim)] of input's dtype; act: one of linear, relu, lrelu, tanh,
/// sigmoid, elu, selu, softplus, swish; alpha / gain default per activation; clamp >= 0 clamps
/// the result to [-clamp, clamp] after the gain. Returns a tensor of input's shape and dtype (for
/// act 'linear' with no bias, gain 1 and no clamp: input itself, as the reference).
/// use_custom_op is accepted and ignored.
inline at::Tensor bias_act(const at::Tensor& input, const std::optional<at::Tensor>& bias = std::nullopt,
                           int64_t dim = 1, const std::string& act = "linear", std::optional<double> alpha = std::nullopt,
                           std::optional<double> gain = std::nullopt, std::optional<double> clamp = std::nullopt,
                           bool use_custom_op = true) {
  (void)use_custom_op;
  constexpr const char* op = "bias_act";
  TORCH_CHECK_VALUE(input.defined(), op, ": expected input to be a defined tensor, but got an undefined tensor");
  detail::check_floating(input, op, "input", /*allow_half=*/!input.is_cpu());
  detail::check_one_of(act, {"linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"}, op, "act");
  const double a = alpha.value_or(detail::bias_act_default_alpha(act));
  const double g = gain.value_or(detail::bias_act_default_gain(act));
  detail::check_finite_scalar(a, op, "alpha");
  detail::check_finite_scalar(g, op, "gain");
  if (clamp.has_value()) {
    TORCH_CHECK_VALUE(*clamp >= 0, op, ": expected clamp to be >= 0 (or nullopt), but got ", *clamp);
  }
  at::Tensor b;
  if (bias.has_value() && bias->defined()) {
    b = *bias;
    detail::check_dim(b, 1, op, "bias");
    TORCH_CHECK_VALUE(dim >= 0 && dim < input.dim(), op, ": expected dim to be in [0, ", input.dim(), "), but got ", dim);
    detail::check_same_dtype(input, b, op, "input", "bias");
    detail::check_same_device(input, b, op, "input", "bias");
    detail::check_arg(b.size(0) == input.size(dim), op, "bias",
                      "have input.size(dim) = " + std::to_string(input.size(dim)) + " elements", b.size(0));
  }
  return detail::bias_act_core(input, b, dim, act, a, g, clamp);
}

}  // namespace ops
}  // namespace mmcv
