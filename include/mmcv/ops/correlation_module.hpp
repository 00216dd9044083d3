// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Correlation module of mmcv/ops/correlation.py (mmcv.ops.Correlation) as a torch::nn::Module
// (no parameters). Apart from <mmcv/ops/correlation.hpp> because LibTorch's nn headers are heavy.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/correlation.hpp>
#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <ostream>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind the Correlation holder; forward() calls mmcv::ops::correlation.
class CorrelationImpl : public torch::nn::Cloneable<CorrelationImpl> {
 public:
  /// MMCV: `Correlation(kernel_size=1, max_displacement=1, stride=1, padding=0, dilation=1,
  /// dilation_patch=1)`; each an int or a pair. Checked here (op name "Correlation").
  explicit CorrelationImpl(at::IntArrayRef kernel_size = 1, at::IntArrayRef max_displacement = 1,
                           at::IntArrayRef stride = 1, at::IntArrayRef padding = 0, at::IntArrayRef dilation = 1,
                           at::IntArrayRef dilation_patch = 1) {
    constexpr const char* op = "Correlation";
    const auto set = [op](std::array<int64_t, 2>& dst, at::IntArrayRef v, const char* name, bool allow_zero) {
      const auto p = detail::pair_arg(v, op, name);
      for (int64_t x : {p.first, p.second}) {
        if (allow_zero)
          detail::check_non_negative(x, op, name);
        else
          detail::check_positive(x, op, name);
      }
      dst = {p.first, p.second};
    };
    set(this->kernel_size, kernel_size, "kernel_size", false);
    set(this->max_displacement, max_displacement, "max_displacement", true);
    set(this->stride, stride, "stride", false);
    set(this->padding, padding, "padding", true);
    set(this->dilation, dilation, "dilation", false);
    set(this->dilation_patch, dilation_patch, "dilation_patch", false);
  }

  void reset() override {}

  /// input1, input2: Tensor[N, C, H, W] -> Tensor[N, Ph, Pw, Ho, Wo].
  at::Tensor forward(const at::Tensor& input1, const at::Tensor& input2) {
    return correlation(input1, input2, kernel_size, max_displacement, stride, padding, dilation, dilation_patch);
  }

  /// MMCV's __repr__ fields: `mmcv::ops::Correlation(kernel_size=(1, 1), max_displacement=(4, 4), ...)`.
  void pretty_print(std::ostream& os) const override {
    const auto pr = [](const std::array<int64_t, 2>& v) { return detail::py_pair(v[0], v[1]); };
    os << "mmcv::ops::Correlation(kernel_size=" << pr(kernel_size) << ", max_displacement=" << pr(max_displacement)
       << ", stride=" << pr(stride) << ", padding=" << pr(padding) << ", dilation=" << pr(dilation)
       << ", dilation_patch=" << pr(dilation_patch) << ")";
  }

  std::array<int64_t, 2> kernel_size{}, max_displacement{}, stride{}, padding{}, dilation{}, dilation_patch{};
};

/// Correlation layer (MMCV: `mmcv.ops.Correlation`):
///   mmcv::ops::Correlation corr(/*kernel_size=*/1, /*max_displacement=*/4);
///   at::Tensor cost = corr(f1, f2);  // [N, 9, 9, H, W]
class Correlation : public torch::nn::ModuleHolder<CorrelationImpl> {
 public:
  using torch::nn::ModuleHolder<CorrelationImpl>::ModuleHolder;
  using Impl = CorrelationImpl;
  Correlation(at::IntArrayRef kernel_size, at::IntArrayRef max_displacement = 1, at::IntArrayRef stride = 1,
              at::IntArrayRef padding = 0, at::IntArrayRef dilation = 1, at::IntArrayRef dilation_patch = 1)
      : ModuleHolder(std::make_shared<CorrelationImpl>(kernel_size, max_displacement, stride, padding, dilation,
                                                       dilation_patch)) {}
};

}  // namespace ops
}  // namespace mmcv
