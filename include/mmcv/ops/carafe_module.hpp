// SPDX-License-Identifier: Apache-2.0
#pragma once
// The CARAFE, CARAFENaive and CARAFEPack modules of mmcv/ops/carafe.py as torch::nn modules, with
// MMCV's submodule names (channel_compressor, content_encoder) and initialisation, so an MMCV
// state_dict loads by name. Apart from <mmcv/ops/carafe.hpp> because LibTorch's nn headers are
// heavy; this header includes the functions.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <mmcv/ops/carafe.hpp>
#include <mmcv/ops/detail/check.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

namespace mmcv {
namespace ops {
namespace detail {

inline void check_carafe_args(const char* op, int64_t kernel_size, int64_t group_size, int64_t scale_factor) {
  check_positive(kernel_size, op, "kernel_size");
  check_arg(kernel_size % 2 == 1, op, "kernel_size", "be odd", kernel_size);
  check_positive(group_size, op, "group_size");
  check_positive(scale_factor, op, "scale_factor");
}

}  // namespace detail

/// The module behind the CARAFE holder (MMCV: `CARAFE(kernel_size, group_size, scale_factor)`).
class CARAFEImpl : public torch::nn::Cloneable<CARAFEImpl> {
 public:
  CARAFEImpl(int64_t kernel_size, int64_t group_size, int64_t scale_factor)
      : kernel_size(kernel_size), group_size(group_size), scale_factor(scale_factor) {
    detail::check_carafe_args("CARAFE", kernel_size, group_size, scale_factor);
  }
  void reset() override {}
  /// features: Tensor[N, C, H, W]; masks: Tensor[N, G*k*k, H*s, W*s] (normalised).
  at::Tensor forward(const at::Tensor& features, const at::Tensor& masks) {
    return carafe(features, masks, kernel_size, group_size, scale_factor);
  }
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::CARAFE(kernel_size=" << kernel_size << ", group_size=" << group_size
       << ", scale_factor=" << scale_factor << ")";
  }
  int64_t kernel_size, group_size, scale_factor;
};

/// CARAFE layer (MMCV: `mmcv.ops.CARAFE`): `mmcv::ops::CARAFE up(5, 1, 2); up(features, masks);`
class CARAFE : public torch::nn::ModuleHolder<CARAFEImpl> {
 public:
  using torch::nn::ModuleHolder<CARAFEImpl>::ModuleHolder;
  using Impl = CARAFEImpl;
  CARAFE(int64_t kernel_size, int64_t group_size, int64_t scale_factor)
      : ModuleHolder(std::make_shared<CARAFEImpl>(kernel_size, group_size, scale_factor)) {}
};

/// The module behind the CARAFENaive holder (MMCV: `CARAFENaive(kernel_size, group_size, scale_factor)`).
class CARAFENaiveImpl : public torch::nn::Cloneable<CARAFENaiveImpl> {
 public:
  CARAFENaiveImpl(int64_t kernel_size, int64_t group_size, int64_t scale_factor)
      : kernel_size(kernel_size), group_size(group_size), scale_factor(scale_factor) {
    detail::check_carafe_args("CARAFENaive", kernel_size, group_size, scale_factor);
  }
  void reset() override {}
  at::Tensor forward(const at::Tensor& features, const at::Tensor& masks) {
    return carafe_naive(features, masks, kernel_size, group_size, scale_factor);
  }
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::CARAFENaive(kernel_size=" << kernel_size << ", group_size=" << group_size
       << ", scale_factor=" << scale_factor << ")";
  }
  int64_t kernel_size, group_size, scale_factor;
};

/// CARAFENaive layer (MMCV: `mmcv.ops.CARAFENaive`), the same numbers as CARAFE.
class CARAFENaive : public torch::nn::ModuleHolder<CARAFENaiveImpl> {
 public:
  using torch::nn::ModuleHolder<CARAFENaiveImpl>::ModuleHolder;
  using Impl = CARAFENaiveImpl;
  CARAFENaive(int64_t kernel_size, int64_t group_size, int64_t scale_factor)
      : ModuleHolder(std::make_shared<CARAFENaiveImpl>(kernel_size, group_size, scale_factor)) {}
};

/// The module behind the CARAFEPack holder: channel_compressor (1x1 conv to compressed_channels),
/// content_encoder (encoder_kernel conv to up_kernel^2 * up_group * scale_factor^2 channels), then
/// pixel_shuffle, a softmax over each group's k*k taps, and carafe.
class CARAFEPackImpl : public torch::nn::Cloneable<CARAFEPackImpl> {
 public:
  /// MMCV: `CARAFEPack(channels, scale_factor, up_kernel=5, up_group=1, encoder_kernel=3,
  /// encoder_dilation=1, compressed_channels=64)`.
  CARAFEPackImpl(int64_t channels, int64_t scale_factor, int64_t up_kernel = 5, int64_t up_group = 1,
                 int64_t encoder_kernel = 3, int64_t encoder_dilation = 1, int64_t compressed_channels = 64)
      : channels(channels), scale_factor(scale_factor), up_kernel(up_kernel), up_group(up_group),
        encoder_kernel(encoder_kernel), encoder_dilation(encoder_dilation), compressed_channels(compressed_channels) {
    constexpr const char* op = "CARAFEPack";
    detail::check_carafe_args(op, up_kernel, up_group, scale_factor);
    detail::check_positive(channels, op, "channels");
    detail::check_positive(encoder_kernel, op, "encoder_kernel");
    detail::check_positive(encoder_dilation, op, "encoder_dilation");
    detail::check_positive(compressed_channels, op, "compressed_channels");
    detail::check_arg(channels % up_group == 0, op, "channels",
                      "be divisible by up_group = " + std::to_string(up_group), channels);
    detail::checked_prod({up_kernel, up_kernel, up_group, scale_factor, scale_factor}, op,
                         "content_encoder channels");
    reset();
  }

  void reset() override {
    channel_compressor = register_module(
        "channel_compressor", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, compressed_channels, 1)));
    content_encoder = register_module(
        "content_encoder",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(compressed_channels,
                                                   up_kernel * up_kernel * up_group * scale_factor * scale_factor,
                                                   encoder_kernel)
                              .padding((encoder_kernel - 1) * encoder_dilation / 2)
                              .dilation(encoder_dilation)
                              .groups(1)));
    init_weights();
  }

  /// MMCV's init_weights: xavier_init(uniform) on both convs (zero bias), then
  /// normal_init(content_encoder, std=0.001) (zero bias).
  void init_weights() {
    torch::NoGradGuard no_grad;
    for (auto* conv : {&channel_compressor, &content_encoder}) {
      torch::nn::init::xavier_uniform_((*conv)->weight, 1.0);
      (*conv)->bias.zero_();
    }
    torch::nn::init::normal_(content_encoder->weight, 0.0, 0.001);
    content_encoder->bias.zero_();
  }

  /// MMCV's kernel_normalizer: pixel_shuffle by scale_factor, softmax over each group's k*k taps.
  at::Tensor kernel_normalizer(const at::Tensor& mask) const {
    auto m = at::pixel_shuffle(mask, scale_factor);
    const int64_t n = m.size(0), c = m.size(1), h = m.size(2), w = m.size(3);
    return at::softmax(m.view({n, c / (up_kernel * up_kernel), -1, h, w}), 2).view({n, c, h, w}).contiguous();
  }

  /// x: Tensor[N, channels, H, W] -> Tensor[N, channels, H * s, W * s].
  at::Tensor forward(const at::Tensor& x) {
    const auto compressed = channel_compressor->forward(x);
    const auto mask = kernel_normalizer(content_encoder->forward(compressed));
    return carafe(x, mask, up_kernel, up_group, scale_factor);
  }

  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::CARAFEPack(channels=" << channels << ", scale_factor=" << scale_factor
       << ", up_kernel=" << up_kernel << ", up_group=" << up_group << ", encoder_kernel=" << encoder_kernel
       << ", encoder_dilation=" << encoder_dilation << ", compressed_channels=" << compressed_channels << ")";
  }

  int64_t channels, scale_factor, up_kernel, up_group, encoder_kernel, encoder_dilation, compressed_channels;
  torch::nn::Conv2d channel_compressor{nullptr};  ///< channels -> compressed_channels, 1x1
  torch::nn::Conv2d content_encoder{nullptr};     ///< compressed -> up_kernel^2 * up_group * s^2
};

/// CARAFEPack layer (MMCV: `mmcv.ops.CARAFEPack`, registered as 'carafe' upsampler):
///   mmcv::ops::CARAFEPack up(256, 2);  at::Tensor y = up(x);  // [N, 256, 2H, 2W]
class CARAFEPack : public torch::nn::ModuleHolder<CARAFEPackImpl> {
 public:
  using torch::nn::ModuleHolder<CARAFEPackImpl>::ModuleHolder;
  using Impl = CARAFEPackImpl;
  CARAFEPack(int64_t channels, int64_t scale_factor, int64_t up_kernel = 5, int64_t up_group = 1,
             int64_t encoder_kernel = 3, int64_t encoder_dilation = 1, int64_t compressed_channels = 64)
      : ModuleHolder(std::make_shared<CARAFEPackImpl>(channels, scale_factor, up_kernel, up_group, encoder_kernel,
                                                      encoder_dilation, compressed_channels)) {}
};

}  // namespace ops
}  // namespace mmcv
