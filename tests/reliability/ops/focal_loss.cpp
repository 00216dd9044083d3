// SPDX-License-Identifier: Apache-2.0
// Reliability specs for include/mmcv/ops/focal_loss.hpp (sigmoid_focal_loss, softmax_focal_loss).
// Loop reference: tests/ops/focal_loss_reference.hpp (MMCV's CUDA kernels element by element).

#include <mmcv/ops/focal_loss.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "ops/focal_loss_reference.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

at::Tensor targets(Gen& g, int64_t N, int64_t K) {
  auto t = at::empty({N}, at::kLong);
  for (int64_t n = 0; n < N; ++n) t[n] = g.integer(-1, K);  // -1 and K: background / ignored
  return t;
}

template <bool Softmax>
at::Tensor call(const at::Tensor& x, const at::Tensor& t, double g, double a, const at::Tensor& w, const std::string& r) {
  const std::optional<at::Tensor> wo = w.defined() ? std::optional<at::Tensor>(w) : std::nullopt;
  return Softmax ? mmcv::ops::softmax_focal_loss(x, t, g, a, wo, r) : mmcv::ops::sigmoid_focal_loss(x, t, g, a, wo, r);
}

template <bool Softmax>
OpSpec focal_spec(const char* op) {
  OpSpec s;
  s.op = op;
  s.inputs = [] {
    Gen g(Softmax ? 21 : 20);
    return Tensors{g.uniform_tensor({30, 5}, -6, 6, at::kFloat), targets(g, 30, 5), g.uniform_tensor({5}, 0.5, 2, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return call<Softmax>(y[0], y[1], 2.0, 0.25, y[2], "none"); }, x,
                                {true, false, false});
  };
  s.args = {{"input", {"N", "K"}, ArgKind::kFloatHalfOk}, {"target", {"N"}, ArgKind::kIndex}, {"weight", {"K"}, ArgKind::kFloat}};
  s.empty_dims = {"N", "K"};
  s.bad = {{"reduction 'avg'", [] { call<Softmax>(at::zeros({2, 3}), at::zeros({2}, at::kLong), 2, 0.25, at::Tensor(), "avg"); },
            std::string(op) + ": expected reduction to be one of"},
           {"gamma NaN", [] { call<Softmax>(at::zeros({2, 3}), at::zeros({2}, at::kLong), NAN, 0.25, at::Tensor(), "sum"); },
            std::string(op) + ": expected gamma to be finite"}};
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t N = g.count(20), K = g.integer(1, 7);
    const auto dt = g.coin(0.5) ? at::kFloat : at::kDouble;
    x.add("input", g.uniform_tensor({N, K}, -5, 5, dt)).add("target", targets(g, N, K));
    x.add("weight", g.uniform_tensor({K}, 0.1, 3, dt));
    x.nums["gamma"] = g.pick({0.0, 1.0, 1.5, 2.0});
    x.nums["alpha"] = g.pick({0.25, 0.5, 0.9});
    x.nums["use_weight"] = g.coin() ? 1 : 0;
    x.strs["reduction"] = g.pick<std::string>({"none", "mean", "sum"});
    x.group({{"input", 0}, {"target", 0}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto& in = x.t("input");
    const auto& t = x.t("target");
    const auto w = x.num("use_weight") != 0 ? x.t("weight") : at::Tensor();
    const double g = x.num("gamma"), a = x.num("alpha");
    const std::string r = x.str("reduction");
    auto xi = in.clone().requires_grad_(true);
    const at::Tensor out = call<Softmax>(xi, t, g, a, w, r);
    const int64_t N = in.size(0), K = in.size(1);
    auto go = r == "none" ? (Softmax ? at::ones({N}, at::kDouble) : at::ones({N, K}, at::kDouble)) * 0.5 : at::full({}, 0.5, at::kDouble);
    const double gn = static_cast<float>(g), an = static_cast<float>(a);
    auto ref = Softmax ? focal_ref::softmax_loop(in, t, w, gn, an, go.expand({N}).contiguous()) : focal_ref::sigmoid_loop(in, t, w, gn, an, go.expand({N, K}).contiguous());
    auto ref_out = r == "none" ? ref.loss : r == "sum" ? ref.loss.sum() : ref.loss.sum() / static_cast<double>(N);
    const mmcv_test::Tol tol = in.scalar_type() == at::kDouble ? mmcv_test::Tol{1e-9, 1e-9} : mmcv_test::Tol{1e-4, 1e-4};
    v.require(out.scalar_type() == in.scalar_type(), "output dtype");
    v.close(out, ref_out.to(in.scalar_type()), tol, "loss vs loop reference");
    if (N == 0 || !v.ok()) return;
    auto grad = mmcv_test::vjp(out, go.to(in.scalar_type()), {xi})[0];
    v.close(grad, (r == "mean" ? ref.grad / static_cast<double>(N) : ref.grad).to(in.scalar_type()), tol, "gradient vs loop reference");
  };
  s.property_cases = 300;
  s.policy.emplace_back("a NaN logit makes only its own row / element NaN", [](Verdict& v) {
    auto x = at::randn({4, 3});
    x[1][2] = NAN;
    auto t = at::tensor({0, 1, 2, 3}, at::kLong);
    const at::Tensor out = call<Softmax>(x, t, 2.0, 0.25, at::Tensor(), "none");
    const at::Tensor nan = at::isnan(out);
    if (Softmax) {
      v.require(nan[1].item<bool>() && !nan[0].item<bool>() && !nan[2].item<bool>(), "NaN row pattern");
    } else {
      v.require(nan[1][2].item<bool>() && nan.sum().item<int64_t>() == 1, "NaN element pattern");
    }
  });
  return s;
}

MMCV_RELIABILITY_OP(sigmoid_focal_loss) { return focal_spec<false>("sigmoid_focal_loss"); }
MMCV_RELIABILITY_OP(softmax_focal_loss) { return focal_spec<true>("softmax_focal_loss"); }

}  // namespace
