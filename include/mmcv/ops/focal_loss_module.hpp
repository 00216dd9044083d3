// SPDX-License-Identifier: Apache-2.0
#pragma once
// The SigmoidFocalLoss and SoftmaxFocalLoss modules of mmcv/ops/focal_loss.py as torch::nn modules.
// Apart from <mmcv/ops/focal_loss.hpp> because LibTorch's nn headers are heavy; <mmcv/ops.hpp>
// includes both. This header includes the functions.

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/module_repr.hpp>
#include <mmcv/ops/focal_loss.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace mmcv {
namespace ops {
namespace detail {

/// MMCV's two focal-loss modules share their constructor and repr; Softmax selects the function.
template <typename Derived, bool Softmax>
class FocalLossImplBase : public torch::nn::Cloneable<Derived> {
 public:
  /// MMCV: `(gamma, alpha, weight=None, reduction='mean')`; weight is registered as the buffer
  /// "weight" when given (MMCV's register_buffer('weight', weight): no entry when None).
  FocalLossImplBase(double gamma, double alpha, const std::optional<at::Tensor>& weight, std::string reduction)
      : gamma(gamma), alpha(alpha), reduction(std::move(reduction)) {
    const char* op = Softmax ? "SoftmaxFocalLoss" : "SigmoidFocalLoss";
    check_finite_scalar(gamma, op, "gamma");
    check_finite_scalar(alpha, op, "alpha");
    check_one_of(this->reduction, {"none", "mean", "sum"}, op, "reduction");
    if (weight.has_value() && weight->defined()) {
      check_dim(*weight, 1, op, "weight");
      init_weight_ = *weight;
    }
    reset();
  }

  void reset() override {
    if (init_weight_.defined()) this->weight = this->register_buffer("weight", init_weight_);
  }

  /// input: Tensor[N, K] logits; target: Tensor[N] int64 class indices.
  at::Tensor forward(const at::Tensor& input, const at::Tensor& target) {
    const std::optional<at::Tensor> w = weight.defined() ? std::optional<at::Tensor>(weight) : std::nullopt;
    return Softmax ? softmax_focal_loss(input, target, gamma, alpha, w, reduction)
                   : sigmoid_focal_loss(input, target, gamma, alpha, w, reduction);
  }

  /// MMCV's __repr__: `SigmoidFocalLoss(gamma=2.0, alpha=0.25, reduction=mean)`.
  void pretty_print(std::ostream& os) const override {
    os << "mmcv::ops::" << (Softmax ? "SoftmaxFocalLoss" : "SigmoidFocalLoss") << "(gamma=" << py_float(gamma)
       << ", alpha=" << py_float(alpha) << ", reduction=" << reduction << ")";
  }

  double gamma;
  double alpha;
  std::string reduction;
  at::Tensor weight;  ///< the "weight" buffer, undefined when constructed without one

 private:
  at::Tensor init_weight_;
};

}  // namespace detail

/// The module behind SigmoidFocalLoss (MMCV: `mmcv.ops.SigmoidFocalLoss`).
class SigmoidFocalLossImpl : public detail::FocalLossImplBase<SigmoidFocalLossImpl, false> {
 public:
  SigmoidFocalLossImpl(double gamma, double alpha, const std::optional<at::Tensor>& weight = std::nullopt,
                       const std::string& reduction = "mean")
      : FocalLossImplBase(gamma, alpha, weight, reduction) {}
};

/// The module behind SoftmaxFocalLoss (MMCV: `mmcv.ops.SoftmaxFocalLoss`).
class SoftmaxFocalLossImpl : public detail::FocalLossImplBase<SoftmaxFocalLossImpl, true> {
 public:
  SoftmaxFocalLossImpl(double gamma, double alpha, const std::optional<at::Tensor>& weight = std::nullopt,
                       const std::string& reduction = "mean")
      : FocalLossImplBase(gamma, alpha, weight, reduction) {}
};

/// `mmcv::ops::SigmoidFocalLoss loss(2.0, 0.25); at::Tensor l = loss(logits, labels);`
class SigmoidFocalLoss : public torch::nn::ModuleHolder<SigmoidFocalLossImpl> {
 public:
  SigmoidFocalLoss(double gamma, double alpha, const std::optional<at::Tensor>& weight = std::nullopt,
                   const std::string& reduction = "mean")
      : ModuleHolder(std::make_shared<SigmoidFocalLossImpl>(gamma, alpha, weight, reduction)) {}
  /* implicit */ SigmoidFocalLoss(std::shared_ptr<SigmoidFocalLossImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ SigmoidFocalLoss(std::nullptr_t) : ModuleHolder(nullptr) {}
};

/// `mmcv::ops::SoftmaxFocalLoss loss(2.0, 0.25); at::Tensor l = loss(logits, labels);`
class SoftmaxFocalLoss : public torch::nn::ModuleHolder<SoftmaxFocalLossImpl> {
 public:
  SoftmaxFocalLoss(double gamma, double alpha, const std::optional<at::Tensor>& weight = std::nullopt,
                   const std::string& reduction = "mean")
      : ModuleHolder(std::make_shared<SoftmaxFocalLossImpl>(gamma, alpha, weight, reduction)) {}
  /* implicit */ SoftmaxFocalLoss(std::shared_ptr<SoftmaxFocalLossImpl> impl) : ModuleHolder(std::move(impl)) {}
  /* implicit */ SoftmaxFocalLoss(std::nullptr_t) : ModuleHolder(nullptr) {}
};

}  // namespace ops
}  // namespace mmcv
