// SPDX-License-Identifier: Apache-2.0
#pragma once
// The PSAMask module of mmcv/ops/psa_mask.py (mmcv.ops.PSAMask) as a torch::nn::Module. Apart from
// <mmcv/ops/psa_mask.hpp> because LibTorch's nn headers are heavy; this header includes the function.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/psa_mask.hpp>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

namespace mmcv {
namespace ops {

/// The module behind the PSAMask holder; forward() calls mmcv::ops::psa_mask.
class PSAMaskImpl : public torch::nn::Cloneable<PSAMaskImpl> {
 public:
  /// MMCV: `PSAMask(psa_type, mask_size=None)`; the mask size is required here (MMCV's forward
  /// fails without it). Arguments checked here (op name "PSAMask").
  PSAMaskImpl(const std::string& psa_type, at::IntArrayRef mask_size) : psa_type(psa_type) {
    constexpr const char* op = "PSAMask";
    detail::check_one_of(psa_type, {"collect", "distribute"}, op, "psa_type");
    const auto hw = detail::pair_arg(mask_size, op, "mask_size");
    detail::check_positive(hw.first, op, "mask_size");
    detail::check_positive(hw.second, op, "mask_size");
    this->mask_size = {hw.first, hw.second};
  }
  PSAMaskImpl(const std::string& psa_type, std::initializer_list<int64_t> mask_size)
      : PSAMaskImpl(psa_type, at::IntArrayRef(mask_size)) {}

  void reset() override {}

  /// input: Tensor[N, hm * wm, H, W] -> Tensor[N, H * W, H, W].
  at::Tensor forward(const at::Tensor& input) { return psa_mask(input, psa_type, mask_size); }

  /// MMCV's __repr__: `PSAMask(psa_type=collect, mask_size=(5, 5))`.
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::PSAMask(psa_type=" << psa_type << ", mask_size=" << detail::py_pair(mask_size[0], mask_size[1])
       << ")";
  }

  std::string psa_type;                ///< "collect" or "distribute"
  std::array<int64_t, 2> mask_size{};  ///< (hm, wm)
};

/// PSAMask layer (MMCV: `mmcv.ops.PSAMask`): `mmcv::ops::PSAMask layer("collect", {5, 5}); layer(x);`
class PSAMask : public torch::nn::ModuleHolder<PSAMaskImpl> {
 public:
  PSAMask(const std::string& psa_type, at::IntArrayRef mask_size)
      : ModuleHolder(std::make_shared<PSAMaskImpl>(psa_type, mask_size)) {}
  PSAMask(const std::string& psa_type, std::initializer_list<int64_t> mask_size)
      : PSAMask(psa_type, at::IntArrayRef(mask_size)) {}
  /* implicit */ PSAMask(std::shared_ptr<PSAMaskImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ PSAMask(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
