// SPDX-License-Identifier: Apache-2.0
#pragma once
// The FusedBiasLeakyReLU module of mmcv/ops/fused_bias_leakyrelu.py as a torch::nn module (apart
// from the function because LibTorch's nn headers are heavy; <mmcv/ops.hpp> includes both).

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/fused_bias_leakyrelu.hpp>

#include <cmath>
#include <cstddef>
#include <memory>
#include <ostream>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind FusedBiasLeakyReLU: parameter "bias" [num_channels], zeros (MMCV's init).
class FusedBiasLeakyReLUImpl : public torch::nn::Cloneable<FusedBiasLeakyReLUImpl> {
 public:
  /// MMCV: `FusedBiasLeakyReLU(num_channels, negative_slope=0.2, scale=2**0.5)`.
  explicit FusedBiasLeakyReLUImpl(int64_t num_channels, double negative_slope = 0.2, double scale = std::sqrt(2.0))
      : num_channels(num_channels), negative_slope(negative_slope), scale(scale) {
    constexpr const char* op = "FusedBiasLeakyReLU";
    detail::check_non_negative(num_channels, op, "num_channels");
    detail::check_finite_scalar(negative_slope, op, "negative_slope");
    detail::check_finite_scalar(scale, op, "scale");
    reset();
  }

  void reset() override { bias = register_parameter("bias", at::zeros({num_channels})); }

  /// input: Tensor[N, num_channels, ...].
  at::Tensor forward(const at::Tensor& input) { return fused_bias_leakyrelu(input, bias, negative_slope, scale); }

  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::FusedBiasLeakyReLU(num_channels=" << num_channels
       << ", negative_slope=" << detail::py_float(negative_slope) << ", scale=" << detail::py_float(scale) << ")";
  }

  int64_t num_channels;
  double negative_slope;
  double scale;
  at::Tensor bias;
};

/// `mmcv::ops::FusedBiasLeakyReLU act(512); at::Tensor y = act(x);`
class FusedBiasLeakyReLU : public torch::nn::ModuleHolder<FusedBiasLeakyReLUImpl> {
 public:
  explicit FusedBiasLeakyReLU(int64_t num_channels, double negative_slope = 0.2, double scale = std::sqrt(2.0))
      : ModuleHolder(std::make_shared<FusedBiasLeakyReLUImpl>(num_channels, negative_slope, scale)) {}
  /* implicit */ FusedBiasLeakyReLU(std::shared_ptr<FusedBiasLeakyReLUImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ FusedBiasLeakyReLU(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
