// SPDX-License-Identifier: Apache-2.0
#pragma once
// Focal losses. Mirrors mmcv/ops/focal_loss.py: the functions mmcv.ops.sigmoid_focal_loss and
// mmcv.ops.softmax_focal_loss are here; the modules SigmoidFocalLoss / SoftmaxFocalLoss are in
// <mmcv/ops/focal_loss_module.hpp>. MMCV has no CPU kernel for either loss: the semantics are
// those of its CUDA kernels (common/cuda/sigmoid_focal_loss_cuda_kernel.cuh,
// softmax_focal_loss_cuda_kernel.cuh) and of the Python Functions around them, on every device.
//
// Strategy: a few element-wise ATen passes over the [N, K] logits. The class-index target becomes
// a [N, K] "positive" mask (target[n] == k); a target outside [0, K) (MMCV's background K, or
// negative) gives an all-negative row. Each loss is a custom autograd Function whose backward is
// MMCV's analytic backward formula (with the FLT_MIN clamp inside the log exactly where MMCV's
// kernel has it), not the derivative of the clamped forward: gradients equal MMCV's.
//
//   sigmoid_focal_loss: p = sigmoid(x); q = 1-p on positives, p on negatives; r = 1 - q
//     (computed as p / 1-p, not 1-q); loss = -c * q^gamma * log(max(r, FLT_MIN)) * w[n] with
//     c = alpha on positives, 1-alpha on negatives; grad = s * q^gamma * (q - gamma*r*log(max(r,
//     FLT_MIN))) * w[n], s = -alpha / 1-alpha. Output [N, K] for 'none', else a scalar.
//   softmax_focal_loss: s = softmax(x) over K; p = s[n, target[n]]; loss[n] = -alpha (1-p)^gamma
//     log(max(p, FLT_MIN)) * w[n]; grad[n, c] = buff[n] * ([c == t] - s[n, c]) with MMCV's buff.
//     Output [N] for 'none', else a scalar.
// w[n] = weight[target[n]] when a weight is given and target[n] is a class, else 1.
// 'mean' divides by N (rows), as MMCV.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mmcv/ops/detail/check.hpp>

#include <cfloat>
#include <cstdint>
#include <optional>
#include <string>

namespace mmcv {
namespace ops {
namespace detail {

/// Reduction codes of MMCV's Functions.
enum class FocalReduction : int64_t { kNone = 0, kMean = 1, kSum = 2 };

/// Checks shared by both losses (MMCV's asserts, in our error format); returns the reduction.
inline FocalReduction check_focal_args(const char* op, const at::Tensor& input, const at::Tensor& target,
                                       double gamma, double alpha, const std::optional<at::Tensor>& weight,
                                       const std::string& reduction) {
  check_dim(input, 2, op, "input");
  check_floating(input, op, "input", /*allow_half=*/!input.is_cpu());
  check_dim(target, 1, op, "target");
  TORCH_CHECK_TYPE(target.scalar_type() == at::kLong, op, ": expected target to have dtype Long (class indices), but got ",
                   dtype_str(target));
  check_same_device(input, target, op, "input", "target");
  check_arg(target.size(0) == input.size(0), op, "target",
            "have input.size(0) = " + std::to_string(input.size(0)) + " elements", target.size(0));
  check_finite_scalar(gamma, op, "gamma");
  check_finite_scalar(alpha, op, "alpha");
  if (weight.has_value() && weight->defined()) {
    const auto& w = *weight;
    check_dim(w, 1, op, "weight");
    check_same_dtype(input, w, op, "input", "weight");
    check_same_device(input, w, op, "input", "weight");
    check_arg(w.size(0) == input.size(1), op, "weight",
              "have input.size(1) = " + std::to_string(input.size(1)) + " elements", w.size(0));
  }
  check_one_of(reduction, {"none", "mean", "sum"}, op, "reduction");
  return reduction == "none" ? FocalReduction::kNone : reduction == "mean" ? FocalReduction::kMean : FocalReduction::kSum;
}

/// MMCV passes gamma / alpha to its kernels as float32 (then widens them to the data type).
inline double focal_narrow(double v) { return static_cast<double>(static_cast<float>(v)); }

/// target[n] in [0, K): [N] bool.
inline at::Tensor focal_valid(const at::Tensor& target, int64_t K) { return (target >= 0) & (target < K); }

/// Per-row weight [N] (weight[target[n]] for a class target, else 1), or an empty [0] tensor when
/// there is no weight (custom Functions need defined tensor arguments; has_weight says which).
/// MMCV reads weight[K] (out of bounds) for background rows; here they get weight 1.
inline at::Tensor focal_row_weight(const at::Tensor& weight, const at::Tensor& target, const at::Tensor& valid,
                                   int64_t K, const at::TensorOptions& opt) {
  if (!weight.defined() || K == 0) return at::empty({0}, opt);
  const auto w = weight.index_select(0, target.clamp(0, K - 1));
  return at::where(valid, w, at::ones_like(w));
}

/// Scale an [N, K] or [N] per-element tensor by the row weight, and by 1/N for 'mean'.
inline at::Tensor focal_reduce(const at::Tensor& loss, FocalReduction red) {
  if (red == FocalReduction::kNone) return loss;
  auto s = loss.sum();
  if (red == FocalReduction::kMean) s = s / static_cast<double>(loss.size(0));  // 0 rows: NaN, as at::mean
  return s;
}

/// sigmoid_focal_loss: forward values and MMCV's analytic backward.
struct SigmoidFocalLossFunction : public torch::autograd::Function<SigmoidFocalLossFunction> {
  /// q (the probability of the wrong answer) and r = 1 - q computed without cancellation.
  static std::pair<at::Tensor, at::Tensor> qr(const at::Tensor& p, const at::Tensor& pos) {
    const auto one_minus_p = 1 - p;
    return {at::where(pos, one_minus_p, p), at::where(pos, p, one_minus_p)};
  }

  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& target,
                            const at::Tensor& row_weight, bool has_weight, double gamma, double alpha, int64_t red) {
    const int64_t K = input.size(1);
    const auto pos = target.unsqueeze(1) == at::arange(K, target.options()).unsqueeze(0);  // [N, K]
    const auto p = at::sigmoid(input);
    at::Tensor q, r;
    std::tie(q, r) = qr(p, pos);
    auto loss = at::pow(q, gamma) * at::log(at::clamp_min(r, static_cast<double>(FLT_MIN)));
    loss.mul_(at::where(pos, at::full({}, -alpha, input.options()), at::full({}, alpha - 1, input.options())));
    if (has_weight) loss.mul_(row_weight.unsqueeze(1));
    ctx->save_for_backward({p, target, row_weight});
    ctx->saved_data["gamma"] = gamma;
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["red"] = red;
    ctx->saved_data["has_weight"] = has_weight;
    return focal_reduce(loss, static_cast<FocalReduction>(red));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& p = saved[0];
    const auto& target = saved[1];
    const auto& row_weight = saved[2];
    const double gamma = ctx->saved_data["gamma"].toDouble();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    const auto red = static_cast<FocalReduction>(ctx->saved_data["red"].toInt());
    const bool has_weight = ctx->saved_data["has_weight"].toBool();
    const int64_t N = p.size(0), K = p.size(1);
    const auto pos = target.unsqueeze(1) == at::arange(K, target.options()).unsqueeze(0);
    at::Tensor q, r;
    std::tie(q, r) = qr(p, pos);
    auto g = r * at::log(at::clamp_min(r, static_cast<double>(FLT_MIN)));
    g.mul_(-gamma).add_(q).mul_(at::pow(q, gamma));
    g.mul_(at::where(pos, at::full({}, -alpha, p.options()), at::full({}, 1 - alpha, p.options())));
    if (has_weight) g.mul_(row_weight.unsqueeze(1));
    g.mul_(grads[0]);  // [N, K] for 'none', a scalar otherwise
    if (red == FocalReduction::kMean) g.div_(static_cast<double>(N));
    return {g, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

/// softmax_focal_loss: forward values and MMCV's analytic backward (with the right broadcast of
/// grad_output for 'none'; MMCV's scales columns instead of rows, see docs/differences.md).
struct SoftmaxFocalLossFunction : public torch::autograd::Function<SoftmaxFocalLossFunction> {
  /// idx: [N] target clamped to [0, K-1]; invalid: [N] bool, target outside [0, K). Few passes:
  /// the [N, K] softmax is the only full-size one (buff, for the backward, is computed there).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& idx,
                            const at::Tensor& invalid, const at::Tensor& row_weight, bool has_weight, double gamma,
                            double alpha, int64_t red) {
    const auto soft = at::softmax(input, 1);
    const auto pt = soft.gather(1, idx.unsqueeze(1)).squeeze(1);  // [N]
    const auto logp = at::clamp_min(pt, static_cast<double>(FLT_MIN)).log_();
    const auto one_minus = 1 - pt;
    auto loss = at::pow(one_minus, gamma).mul_(logp).mul_(-alpha).masked_fill_(invalid, 0);
    if (has_weight) loss.mul_(row_weight);
    ctx->save_for_backward({soft, idx, invalid, row_weight, pt, logp});
    ctx->saved_data["gamma"] = gamma;
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["red"] = red;
    ctx->saved_data["has_weight"] = has_weight;
    return focal_reduce(loss, static_cast<FocalReduction>(red));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& soft = saved[0];
    const auto& idx = saved[1];
    const auto& invalid = saved[2];
    const auto& row_weight = saved[3];
    const auto& pt = saved[4];
    const auto& logp = saved[5];
    const double gamma = ctx->saved_data["gamma"].toDouble();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    const auto red = static_cast<FocalReduction>(ctx->saved_data["red"].toInt());
    // MMCV's buff[n] = alpha * (-(1-p)^g + g (1-p)^(g-1) p log(max(p, FLT_MIN))) * w[n], 0 for other rows
    const auto one_minus = 1 - pt;
    auto b = at::pow(one_minus, gamma - 1).mul_(pt).mul_(logp).mul_(gamma).sub_(at::pow(one_minus, gamma)).mul_(alpha);
    b.masked_fill_(invalid, 0);
    if (ctx->saved_data["has_weight"].toBool()) b.mul_(row_weight);
    b.mul_(grads[0]);  // [N]: grad_output per row for 'none', a scalar otherwise
    if (red == FocalReduction::kMean) b.div_(static_cast<double>(soft.size(0)));
    b = b.unsqueeze(1);                   // [N, 1]
    auto g = soft * b.neg();              // -buff * s[n, c]
    g.scatter_add_(1, idx.unsqueeze(1), b);  // + buff at the target class
    return {g, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace detail

/// MMCV: `mmcv.ops.sigmoid_focal_loss(input, target, gamma=2.0, alpha=0.25, weight=None, reduction='mean')`.
/// input: Tensor[N, K] logits (float32/float64; float16/bfloat16 off CPU); target: Tensor[N] int64 class
/// indices, K (or any value outside [0, K)) = background (every class negative); weight: optional
/// Tensor[K] (input's dtype): row n is scaled by weight[target[n]] (background rows by 1).
/// Returns Tensor[N, K] for 'none', else a scalar ('mean' = sum / N). Differentiable in input
/// (MMCV's analytic gradient); target and weight get no gradient.
inline at::Tensor sigmoid_focal_loss(const at::Tensor& input, const at::Tensor& target, double gamma = 2.0,
                                     double alpha = 0.25, const std::optional<at::Tensor>& weight = std::nullopt,
                                     const std::string& reduction = "mean") {
  constexpr const char* op = "sigmoid_focal_loss";
  const auto red = detail::check_focal_args(op, input, target, gamma, alpha, weight, reduction);
  const int64_t K = input.size(1);
  const auto t = target.detach();
  const auto w = weight.has_value() && weight->defined() ? weight->detach() : at::Tensor();
  const auto row_weight = detail::focal_row_weight(w, t, detail::focal_valid(t, K), K, input.options());
  // contiguous(): strided views would take ATen's non-vectorised exp/log and round differently.
  return detail::SigmoidFocalLossFunction::apply(input.contiguous(), t, row_weight, w.defined() && K > 0, detail::focal_narrow(gamma),
                                                 detail::focal_narrow(alpha), static_cast<int64_t>(red));
}

/// MMCV: `mmcv.ops.softmax_focal_loss(input, target, gamma=2.0, alpha=0.25, weight=None, reduction='mean')`.
/// input: Tensor[N, K] logits; target: Tensor[N] int64 class indices (a value outside [0, K) gives
/// loss 0 and no gradient for the row); weight: optional Tensor[K]. Returns Tensor[N] for 'none',
/// else a scalar ('mean' = sum / N). Differentiable in input (MMCV's analytic gradient).
inline at::Tensor softmax_focal_loss(const at::Tensor& input, const at::Tensor& target, double gamma = 2.0,
                                     double alpha = 0.25, const std::optional<at::Tensor>& weight = std::nullopt,
                                     const std::string& reduction = "mean") {
  constexpr const char* op = "softmax_focal_loss";
  const auto red = detail::check_focal_args(op, input, target, gamma, alpha, weight, reduction);
  const int64_t K = input.size(1);
  if (K == 0) {  // no classes: every row is "outside [0, K)" -> loss 0; still differentiable (zero gradient)
    auto zero = (input.sum(1) * 0);
    return detail::focal_reduce(zero, red);
  }
  const auto t = target.detach();
  const auto w = weight.has_value() && weight->defined() ? weight->detach() : at::Tensor();
  const auto idx = t.clamp(0, K - 1);
  const auto invalid = t.ne(idx);  // target outside [0, K)
  const auto row_weight = w.defined() ? w.index_select(0, idx).masked_fill_(invalid, 1) : at::empty({0}, input.options());
  // contiguous(): as sigmoid_focal_loss (view results bit-equal to the contiguous call).
  return detail::SoftmaxFocalLossFunction::apply(input.contiguous(), idx, invalid, row_weight, w.defined(), detail::focal_narrow(gamma),
                                                 detail::focal_narrow(alpha), static_cast<int64_t>(red));
}

}  // namespace ops
}  // namespace mmcv
