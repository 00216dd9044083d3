// SPDX-License-Identifier: Apache-2.0
#pragma once
// conv2d / conv_transpose2d with a switch for weight gradients. Mirrors mmcv/ops/conv2d_gradfix.py
// (from StyleGAN2-ADA / StyleGAN3), in namespace mmcv::ops::conv2d_gradfix: conv2d,
// conv_transpose2d and the no_weight_gradients context manager as an RAII guard.
//
// Values are F.conv2d / F.conv_transpose2d's (MMCV's custom op only changes how gradients are
// computed, and MMCV itself falls back to F.conv2d for conv2d on PyTorch >= 1.10 and off CUDA).
// Strategy: ATen's convolution, whose autograd supports gradients of every order. While a
// no_weight_gradients guard is active the weight receives no gradient (undefined, as MMCV's
// backward returns None): at forward time the weight enters the convolution detached (nothing
// is recorded for it, so nothing is computed); at backward time (MMCV's pattern: the forward
// outside, torch.autograd.grad inside the guard) a pass-through node on the weight drops its
// gradient. The flag is thread-local (one training loop's guard does not leak into another
// thread's); the backward-time check runs on the thread executing the backward: the calling
// thread for CPU graphs, an autograd device thread for CUDA graphs, where only the forward-time
// check applies (documented in docs/ops/conv2d_gradfix.md). Memory: ATen's convolution.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace mmcv {
namespace ops {
namespace conv2d_gradfix {
namespace detail {

/// The thread-local switch behind no_weight_gradients (MMCV: the module global weight_gradients_disabled).
inline bool& weight_gradients_disabled_flag() {
  thread_local bool disabled = false;
  return disabled;
}

/// Identity on the weight whose backward drops the gradient while weight gradients are disabled.
struct WeightGate : public torch::autograd::Function<WeightGate> {
  static at::Tensor forward(torch::autograd::AutogradContext*, const at::Tensor& weight) { return weight.view(weight.sizes()); }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*, torch::autograd::variable_list grads) {
    if (weight_gradients_disabled_flag()) return {at::Tensor()};
    return {grads[0]};
  }
};

/// MMCV's _to_tuple for 2 dims: one value or two.
inline std::array<int64_t, 2> pair2(at::IntArrayRef v, const char* op, const char* arg) {
  const auto p = mmcv::ops::detail::pair_arg(v, op, arg);
  return {p.first, p.second};
}

inline at::Tensor gated_weight(const at::Tensor& weight) {
  if (!weight.requires_grad() || !at::GradMode::is_enabled()) return weight;
  if (weight_gradients_disabled_flag()) return weight.detach();  // forward-time guard: nothing recorded
  return WeightGate::apply(weight);
}

inline void check_conv_args(const char* op, const at::Tensor& input, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, int64_t groups) {
  namespace d = mmcv::ops::detail;
  d::check_dim(input, 4, op, "input");
  d::check_dim(weight, 4, op, "weight");
  d::check_floating(input, op, "input", /*allow_half=*/!input.is_cpu());
  d::check_same_dtype(input, weight, op, "input", "weight");
  d::check_same_device(input, weight, op, "input", "weight");
  d::check_positive(groups, op, "groups");
  if (bias.has_value() && bias->defined()) {
    d::check_dim(*bias, 1, op, "bias");
    d::check_same_dtype(input, *bias, op, "input", "bias");
    d::check_same_device(input, *bias, op, "input", "bias");
  }
}

}  // namespace detail

/// MMCV's `with conv2d_gradfix.no_weight_gradients(disable=True):` as an RAII guard:
///   { mmcv::ops::conv2d_gradfix::no_weight_gradients guard; auto g = torch::autograd::grad(...); }
/// Nestable (restores the previous state on destruction); `no_weight_gradients(false)` leaves the
/// current state unchanged, as MMCV's. Thread-local.
class no_weight_gradients {
 public:
  explicit no_weight_gradients(bool disable = true) : old_(detail::weight_gradients_disabled_flag()) {
    if (disable) detail::weight_gradients_disabled_flag() = true;
  }
  ~no_weight_gradients() { detail::weight_gradients_disabled_flag() = old_; }
  no_weight_gradients(const no_weight_gradients&) = delete;
  no_weight_gradients& operator=(const no_weight_gradients&) = delete;

 private:
  bool old_;
};

/// Whether weight gradients are disabled on this thread (MMCV: conv2d_gradfix.weight_gradients_disabled).
inline bool weight_gradients_disabled() { return detail::weight_gradients_disabled_flag(); }

/// MMCV: `conv2d_gradfix.conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)`.
/// input: Tensor[N, C_in, H, W]; weight: Tensor[C_out, C_in / groups, kh, kw]; bias: optional
/// Tensor[C_out]. Values of F.conv2d; gradients of every order (weight's dropped under
/// no_weight_gradients).
inline at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias = std::nullopt,
                         at::IntArrayRef stride = 1, at::IntArrayRef padding = 0, at::IntArrayRef dilation = 1,
                         int64_t groups = 1) {
  constexpr const char* op = "conv2d_gradfix.conv2d";
  namespace d = mmcv::ops::detail;
  detail::check_conv_args(op, input, weight, bias, groups);
  const auto s = detail::pair2(stride, op, "stride"), p = detail::pair2(padding, op, "padding"),
             dl = detail::pair2(dilation, op, "dilation");
  for (int i = 0; i < 2; ++i) {
    d::check_positive(s[i], op, "stride");
    d::check_non_negative(p[i], op, "padding");
    d::check_positive(dl[i], op, "dilation");
  }
  const int64_t cin = d::checked_mul(weight.size(1), groups, op, "weight.size(1) * groups");
  d::check_arg(input.size(1) == cin, op, "input", "have weight.size(1) * groups = " + std::to_string(cin) + " channels",
               input.size(1));
  d::check_arg(weight.size(0) % groups == 0, op, "weight", "have size(0) divisible by groups = " + std::to_string(groups),
               weight.size(0));
  if (bias.has_value() && bias->defined())
    d::check_arg(bias->size(0) == weight.size(0), op, "bias",
                 "have weight.size(0) = " + std::to_string(weight.size(0)) + " elements", bias->size(0));
  // Standard (contiguous) layouts: ATen picks its convolution algorithm by memory format, so a
  // channels-last or strided view would otherwise round differently from the contiguous call.
  return at::conv2d(input.contiguous(), detail::gated_weight(weight.contiguous()), bias.has_value() ? *bias : at::Tensor(),
                    at::IntArrayRef(s.data(), 2), at::IntArrayRef(p.data(), 2), at::IntArrayRef(dl.data(), 2), groups);
}

/// MMCV: `conv2d_gradfix.conv_transpose2d(input, weight, bias=None, stride=1, padding=0,
/// output_padding=0, groups=1, dilation=1)`. input: Tensor[N, C_in, H, W]; weight: Tensor[C_in,
/// C_out / groups, kh, kw]; bias: optional Tensor[C_out]. Values of F.conv_transpose2d.
inline at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias = std::nullopt, at::IntArrayRef stride = 1,
                                   at::IntArrayRef padding = 0, at::IntArrayRef output_padding = 0, int64_t groups = 1,
                                   at::IntArrayRef dilation = 1) {
  constexpr const char* op = "conv2d_gradfix.conv_transpose2d";
  namespace d = mmcv::ops::detail;
  detail::check_conv_args(op, input, weight, bias, groups);
  const auto s = detail::pair2(stride, op, "stride"), p = detail::pair2(padding, op, "padding"),
             op_ = detail::pair2(output_padding, op, "output_padding"), dl = detail::pair2(dilation, op, "dilation");
  for (int i = 0; i < 2; ++i) {
    d::check_positive(s[i], op, "stride");
    d::check_non_negative(p[i], op, "padding");
    d::check_positive(dl[i], op, "dilation");
    TORCH_CHECK_VALUE(op_[i] >= 0 && op_[i] < std::max(s[i], dl[i]), op,
                      ": expected output_padding to be in [0, max(stride, dilation)), but got ", op_[i]);
  }
  d::check_arg(input.size(1) == weight.size(0), op, "input",
               "have weight.size(0) = " + std::to_string(weight.size(0)) + " channels", input.size(1));
  d::check_arg(weight.size(0) % groups == 0, op, "weight", "have size(0) divisible by groups = " + std::to_string(groups),
               weight.size(0));
  const int64_t cout = d::checked_mul(weight.size(1), groups, op, "weight.size(1) * groups");
  if (bias.has_value() && bias->defined())
    d::check_arg(bias->size(0) == cout, op, "bias", "have weight.size(1) * groups = " + std::to_string(cout) + " elements",
                 bias->size(0));
  // Standard layouts, as conv2d above (results independent of the caller's memory format).
  return at::conv_transpose2d(input.contiguous(), detail::gated_weight(weight.contiguous()),
                              bias.has_value() ? *bias : at::Tensor(),
                              at::IntArrayRef(s.data(), 2), at::IntArrayRef(p.data(), 2), at::IntArrayRef(op_.data(), 2),
                              groups, at::IntArrayRef(dl.data(), 2));
}

}  // namespace conv2d_gradfix
}  // namespace ops
}  // namespace mmcv
