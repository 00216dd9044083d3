// SPDX-License-Identifier: Apache-2.0
#pragma once
// Float64 restatements of MMCV's pure-PyTorch reference functions for the StyleGAN ops
// (mmcv/ops/upfirdn2d.py `_upfirdn2d_ref`, bias_act.py `_bias_act_ref`, filtered_lrelu.py
// `_filtered_lrelu_ref`, fused_bias_leakyrelu.py `bias_leakyrelu_ref`), written the reference's
// way (zero insertion, padding / cropping, grouped full-resolution convolution, strided slice),
// used by the tests as the specification.

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace stylegan_ref {

/// _upfirdn2d_ref(x, f, up=[upx, upy], down=[downx, downy], padding=[x0, x1, y0, y1], flip_filter, gain).
inline at::Tensor upfirdn2d(const at::Tensor& input, const std::optional<at::Tensor>& filter, std::array<int64_t, 2> up,
                            std::array<int64_t, 2> down, std::array<int64_t, 4> pad, bool flip_filter, double gain) {
  at::Tensor f = filter.has_value() && filter->defined() ? *filter : at::ones({1, 1}, input.options().dtype(at::kFloat));
  const int64_t B = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  auto x = input.reshape({B, C, H, 1, W, 1});
  x = at::constant_pad_nd(x, {0, up[0] - 1, 0, 0, 0, up[1] - 1});
  x = x.reshape({B, C, H * up[1], W * up[0]});
  x = at::constant_pad_nd(x, {std::max<int64_t>(pad[0], 0), std::max<int64_t>(pad[1], 0), std::max<int64_t>(pad[2], 0),
                              std::max<int64_t>(pad[3], 0)});
  x = x.slice(2, std::max<int64_t>(-pad[2], 0), x.size(2) - std::max<int64_t>(-pad[3], 0))
          .slice(3, std::max<int64_t>(-pad[0], 0), x.size(3) - std::max<int64_t>(-pad[1], 0));
  f = (f * std::pow(gain, f.dim() / 2.0)).to(x.scalar_type());
  if (!flip_filter) f = f.flip(f.dim() == 1 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 1});
  if (f.dim() == 2) {
    x = at::conv2d(x, f.view({1, 1, f.size(0), f.size(1)}).repeat({C, 1, 1, 1}), at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, C);
  } else {
    const int64_t F = f.size(0);
    x = at::conv2d(x, f.view({1, 1, 1, F}).repeat({C, 1, 1, 1}), at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, C);
    x = at::conv2d(x, f.view({1, 1, F, 1}).repeat({C, 1, 1, 1}), at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, C);
  }
  return x.slice(2, 0, x.size(2), down[1]).slice(3, 0, x.size(3), down[0]);
}

/// MMCV's activation_funcs: default alpha and gain.
inline double default_alpha(const std::string& act) { return act == "lrelu" ? 0.2 : 0.0; }
inline double default_gain(const std::string& act) {
  return (act == "relu" || act == "lrelu" || act == "swish") ? std::sqrt(2.0) : 1.0;
}

/// _bias_act_ref.
inline at::Tensor bias_act(const at::Tensor& input, const std::optional<at::Tensor>& bias, int64_t dim,
                           const std::string& act, std::optional<double> alpha_, std::optional<double> gain_,
                           std::optional<double> clamp_) {
  const double alpha = alpha_.value_or(default_alpha(act));
  const double gain = gain_.value_or(default_gain(act));
  const double clamp = clamp_.value_or(-1.0);
  auto x = input;
  if (bias.has_value() && bias->defined()) {
    std::vector<int64_t> shape(input.dim(), 1);
    shape[dim] = -1;
    x = x + bias->reshape(shape);
  }
  at::Tensor y;
  if (act == "linear") y = x;
  else if (act == "relu") y = at::relu(x);
  else if (act == "lrelu") y = at::leaky_relu(x, alpha);
  else if (act == "tanh") y = at::tanh(x);
  else if (act == "sigmoid") y = at::sigmoid(x);
  else if (act == "elu") y = at::elu(x);
  else if (act == "selu") y = at::selu(x);
  else if (act == "softplus") y = at::softplus(x);
  else if (act == "swish") y = at::sigmoid(x) * x;
  if (gain != 1) y = y * gain;
  if (clamp >= 0) y = y.clamp(-clamp, clamp);
  return y;
}

}  // namespace stylegan_ref

namespace stylegan_ref {

/// bias_leakyrelu_ref (fused_bias_leakyrelu.py).
inline at::Tensor bias_leakyrelu(const at::Tensor& x, const at::Tensor& bias, double slope, double scale) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = -1;
  auto y = at::leaky_relu(x + bias.reshape(shape), slope);
  return scale != 1 ? y * scale : y;
}

}  // namespace stylegan_ref

namespace stylegan_ref {

/// _filtered_lrelu_ref (filtered_lrelu.py), on the restated upfirdn2d / bias_act above.
inline at::Tensor filtered_lrelu(const at::Tensor& input, const std::optional<at::Tensor>& fu,
                                 const std::optional<at::Tensor>& fd, const std::optional<at::Tensor>& bias, int64_t up,
                                 int64_t down, std::array<int64_t, 4> pad, double gain, double slope,
                                 std::optional<double> clamp, bool flip) {
  auto x = bias_act(input, bias, 1, "linear", std::nullopt, std::nullopt, std::nullopt);
  x = upfirdn2d(x, fu, {up, up}, {1, 1}, pad, flip, static_cast<double>(up * up));
  x = bias_act(x, std::nullopt, 1, "lrelu", slope, gain, clamp);
  return upfirdn2d(x, fd, {1, 1}, {down, down}, {0, 0, 0, 0}, flip, 1.0);
}

}  // namespace stylegan_ref
