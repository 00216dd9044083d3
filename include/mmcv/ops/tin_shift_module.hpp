// SPDX-License-Identifier: Apache-2.0
#pragma once
// The TINShift module of mmcv/ops/tin_shift.py (mmcv.ops.TINShift) as a torch::nn::Module (no
// parameters). Apart from <mmcv/ops/tin_shift.hpp> because LibTorch's nn headers are heavy.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/tin_shift.hpp>

#include <cstddef>
#include <memory>
#include <ostream>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind the TINShift holder; forward() calls mmcv::ops::tin_shift.
class TINShiftImpl : public torch::nn::Cloneable<TINShiftImpl> {
 public:
  TINShiftImpl() = default;
  void reset() override {}
  /// input: Tensor[N, T, C, H * W]; shift: Tensor[N, G] int32 / int64.
  at::Tensor forward(const at::Tensor& input, const at::Tensor& shift) { return tin_shift(input, shift); }
  void pretty_print(std::ostream& os) const override { os << "mmcv::ops::TINShift()"; }
};

/// TINShift layer (MMCV: `mmcv.ops.TINShift`): `mmcv::ops::TINShift layer; layer(x, shift);`
class TINShift : public torch::nn::ModuleHolder<TINShiftImpl> {
 public:
  TINShift() : ModuleHolder(std::make_shared<TINShiftImpl>()) {}
  /* implicit */ TINShift(std::shared_ptr<TINShiftImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ TINShift(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
