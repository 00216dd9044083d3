// SPDX-License-Identifier: Apache-2.0
// Reliability specs for the StyleGAN family: upfirdn2d.hpp, bias_act.hpp, fused_bias_leakyrelu.hpp,
// filtered_lrelu.hpp, conv2d_gradfix.hpp. References: MMCV's pure-PyTorch reference functions
// restated in tests/ops/stylegan_reference.hpp.

#include <mmcv/ops/bias_act.hpp>
#include <mmcv/ops/conv2d_gradfix.hpp>
#include <mmcv/ops/filtered_lrelu.hpp>
#include <mmcv/ops/fused_bias_leakyrelu.hpp>
#include <mmcv/ops/upfirdn2d.hpp>

#include <array>
#include <cmath>
#include <optional>
#include <string>

#include "ops/stylegan_reference.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

const mmcv_test::Tol kTol64{1e-9, 1e-9};

MMCV_RELIABILITY_OP(upfirdn2d) {
  OpSpec s;
  s.op = "upfirdn2d";
  s.inputs = [] {
    Gen g(30);
    return Tensors{g.uniform_tensor({2, 3, 7, 6}, -1, 1, at::kFloat), g.uniform_tensor({4}, 0, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([&](const Tensors& y) { return mmcv::ops::upfirdn2d(y[0], x[1].detach(), 2, 1, {2, 1, 1, 2}); },
                                x, {true, false});
  };
  // Only the input is mutated automatically: a filter may be 1-D or 2-D, so its rank changes are valid.
  s.args = {{"input", {"N", "C", "H", "W"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"N", "C"};
  s.bad = {{"filter 3-D", [] { mmcv::ops::upfirdn2d(at::zeros({1, 1, 4, 4}), at::ones({2, 2, 2})); }, "upfirdn2d: expected filter to be a 1-D"},
           {"crop below the filter size", [] { mmcv::ops::upfirdn2d(at::zeros({1, 1, 4, 4}), at::ones({3}), 1, 1, -1); },
            "upfirdn2d: expected the upsampled, padded input"}};
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t H = g.integer(1, 7), W = g.integer(1, 7);
    x.add("input", g.uniform_tensor({g.integer(0, 2), g.integer(1, 3), H, W}, -2, 2, at::kDouble));
    const bool sep = g.coin();
    x.add("filter", sep ? g.uniform_tensor({g.integer(1, 4)}, -1, 1, at::kFloat)
                        : g.uniform_tensor({g.integer(1, 3), g.integer(1, 3)}, -1, 1, at::kFloat));
    for (const char* k : {"upx", "upy", "downx", "downy"}) x.nums[k] = static_cast<double>(g.integer(1, 3));
    for (const char* k : {"px0", "px1", "py0", "py1"}) x.nums[k] = static_cast<double>(g.integer(-2, 3));
    x.nums["flip"] = g.coin() ? 1 : 0;
    x.nums["gain"] = g.pick({1.0, 2.5});
    x.group({{"input", 0}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto& in = x.t("input");
    const auto& f = x.t("filter");
    const std::array<int64_t, 2> up = {x.integer("upx"), x.integer("upy")}, down = {x.integer("downx"), x.integer("downy")};
    const std::array<int64_t, 4> pad = {x.integer("px0"), x.integer("px1"), x.integer("py0"), x.integer("py1")};
    const bool flip = x.num("flip") != 0;
    const double gain = x.num("gain");
    const bool valid = in.size(3) * up[0] + pad[0] + pad[1] >= f.size(-1) && in.size(2) * up[1] + pad[2] + pad[3] >= f.size(0);
    try {
      auto out = mmcv::ops::upfirdn2d(in, f, {up[0], up[1]}, {down[0], down[1]}, {pad[0], pad[1], pad[2], pad[3]}, flip, gain);
      v.require(valid, "accepted a padding smaller than the filter");
      if (!valid) return;
      v.close(out, stylegan_ref::upfirdn2d(in, f, up, down, pad, flip, gain), kTol64, "vs _upfirdn2d_ref");
    } catch (const c10::Error& e) {
      v.require(!valid, std::string("rejected a valid call: ") + e.what_without_backtrace());
    }
  };
  s.property_cases = 400;
  s.policy.emplace_back("deviation: a zero filter tap does not turn an Inf pixel into NaN (reference: 0 * Inf)", [](Verdict& v) {
    auto x = at::zeros({1, 1, 6, 6});
    x[0][0][3][3] = INFINITY;
    auto out = mmcv::ops::upfirdn2d(x, at::tensor({1.f, 0.f, 1.f}), 1, 1, 1);
    v.require(!at::isnan(out).any().item<bool>(), "NaN from a zero tap");
    v.require(at::isinf(out).sum().item<int64_t>() == 4, "Inf reaches the 4 outputs of the non-zero taps");
  });
  s.policy.emplace_back("NaN / Inf pixels spread only through the filter's footprint", [](Verdict& v) {
    auto x = at::zeros({1, 1, 8, 8});
    x[0][0][4][4] = NAN;
    auto out = mmcv::ops::upfirdn2d(x, at::ones({3}), 1, 1, 1);
    v.require(at::isnan(out).sum().item<int64_t>() == 9, "a NaN pixel reaches exactly its 3 x 3 neighbourhood");
  });
  return s;
}

MMCV_RELIABILITY_OP(bias_act) {
  OpSpec s;
  s.op = "bias_act";
  s.inputs = [] {
    Gen g(31);
    return Tensors{g.uniform_tensor({2, 4, 3, 3}, -2, 2, at::kFloat), g.uniform_tensor({4}, -1, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::bias_act(y[0], y[1], 1, "lrelu", std::nullopt, std::nullopt, 1.0); },
                                x, {true, true});
  };
  // input may have any rank: no automatic mutations; explicit rows instead.
  s.bad = {{"act gelu", [] { mmcv::ops::bias_act(at::zeros({2, 3}), std::nullopt, 1, "gelu"); }, "bias_act: expected act to be one of"},
           {"bias length", [] { mmcv::ops::bias_act(at::zeros({2, 3}), at::zeros({2})); }, "bias_act: expected bias to have input.size(dim)"},
           {"bias dtype", [] { mmcv::ops::bias_act(at::zeros({2, 3}), at::zeros({3}, at::kDouble)); }, "bias_act: expected bias to have the same dtype"},
           {"dim out of range", [] { mmcv::ops::bias_act(at::zeros({2, 3}), at::zeros({3}), 5); }, "bias_act: expected dim to be in"},
           {"integer input", [] { mmcv::ops::bias_act(at::zeros({2, 3}, at::kInt)); }, "bias_act: expected input to have a floating-point dtype"}};
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t r = g.integer(1, 4);
    std::vector<int64_t> shape;
    for (int64_t i = 0; i < r; ++i) shape.push_back(g.integer(i == 0 ? 0 : 1, 4));
    const int64_t dim = g.integer(0, r - 1);
    x.add("input", g.uniform_tensor(shape, -3, 3, at::kDouble));
    x.add("bias", g.uniform_tensor({shape[static_cast<size_t>(dim)]}, -1, 1, at::kDouble));
    x.nums["dim"] = static_cast<double>(dim);
    x.strs["act"] = g.pick<std::string>({"linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"});
    x.nums["use_bias"] = g.coin() ? 1 : 0;
    x.nums["gain"] = g.pick({-1.0, 0.5, 1.0, 2.0, -7.0});  // -7: the activation's default
    x.nums["clamp"] = g.pick({-1.0, 0.0, 0.5, 2.0});        // -1: none
    x.nums["alpha"] = g.pick({-1.0, 0.1, 0.3});             // -1: default
    x.nums["grad"] = g.coin() ? 1 : 0;
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto in = x.t("input");
    std::optional<at::Tensor> b;
    if (x.num("use_bias") != 0) b = x.t("bias");
    const auto opt = [](double d, double none) { return d == none ? std::nullopt : std::optional<double>(d); };
    const auto gain = opt(x.num("gain"), -7.0), clamp = opt(x.num("clamp"), -1.0), alpha = opt(x.num("alpha"), -1.0);
    const int64_t dim = x.integer("dim");
    const bool grad = x.num("grad") != 0;
    auto xi = in.clone().requires_grad_(grad);
    auto out = mmcv::ops::bias_act(xi, b, dim, x.str("act"), alpha, gain, clamp);
    v.close(out, stylegan_ref::bias_act(in, b, dim, x.str("act"), alpha, gain, clamp), kTol64, "vs _bias_act_ref");
    v.require(!grad || in.numel() == 0 || out.requires_grad() || (x.str("act") == "linear" && !b && !gain && !clamp),
              "result records a gradient");
  };
  s.property_cases = 400;
  s.policy.emplace_back("NaN passes through every activation (clamp keeps NaN)", [](Verdict& v) {
    auto x = at::tensor({NAN, 1.0f});
    for (const char* act : {"linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"}) {
      auto out = mmcv::ops::bias_act(x, std::nullopt, 0, act, std::nullopt, std::nullopt, 1.0);
      v.require(std::isnan(out[0].item<float>()), std::string(act) + ": NaN lost");
    }
  });
  return s;
}

MMCV_RELIABILITY_OP(fused_bias_leakyrelu) {
  OpSpec s;
  s.op = "fused_bias_leakyrelu";
  s.inputs = [] {
    Gen g(32);
    return Tensors{g.uniform_tensor({2, 4, 3, 3}, -2, 2, at::kFloat), g.uniform_tensor({4}, -1, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::fused_bias_leakyrelu(y[0], y[1]); }, x, {true, true});
  };
  s.bad = {{"bias length", [] { mmcv::ops::fused_bias_leakyrelu(at::zeros({2, 3}), at::zeros({2})); },
            "fused_bias_leakyrelu: expected bias to have input.size(1)"},
           {"1-D input", [] { mmcv::ops::fused_bias_leakyrelu(at::zeros({3}), at::zeros({3})); },
            "fused_bias_leakyrelu: expected input to have at least 2 dims"}};
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t C = g.integer(1, 4);
    x.add("input", g.uniform_tensor({g.integer(0, 3), C, g.integer(1, 4)}, -3, 3, at::kDouble));
    x.add("bias", g.uniform_tensor({C}, -1, 1, at::kDouble));
    x.nums["slope"] = g.pick({0.0, 0.2, -0.3});
    x.nums["scale"] = g.pick({1.0, std::sqrt(2.0), -2.0});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    v.close(mmcv::ops::fused_bias_leakyrelu(x.t("input"), x.t("bias"), x.num("slope"), x.num("scale")),
            stylegan_ref::bias_leakyrelu(x.t("input"), x.t("bias"), x.num("slope"), x.num("scale")), kTol64, "vs bias_leakyrelu_ref");
  };
  s.property_cases = 300;
  return s;
}

MMCV_RELIABILITY_OP(filtered_lrelu) {
  OpSpec s;
  s.op = "filtered_lrelu";
  s.other_ops = {"upfirdn2d"};
  s.inputs = [] {
    Gen g(33);
    return Tensors{g.uniform_tensor({2, 3, 6, 6}, -1, 1, at::kFloat), g.uniform_tensor({4}, 0, 1, at::kFloat),
                   g.uniform_tensor({2}, 0, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads(
        [&](const Tensors& y) { return mmcv::ops::filtered_lrelu(y[0], x[1].detach(), x[2].detach(), std::nullopt, 2, 2, 2); }, x,
        {true, false, false});
  };
  s.args = {{"input", {"N", "C", "H", "W"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"N", "C"};
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t C = g.integer(1, 3);
    // H, W >= 5 with filters of <= 4 (up) and <= 2 (down) taps: always a valid call
    x.add("input", g.uniform_tensor({g.integer(0, 2), C, g.integer(5, 7), g.integer(5, 7)}, -2, 2, at::kDouble));
    x.add("fu", g.uniform_tensor({g.integer(1, 4)}, 0, 1, at::kFloat));
    x.add("fd", g.uniform_tensor({g.integer(1, 2), g.integer(1, 2)}, 0, 1, at::kFloat));
    x.add("bias", g.uniform_tensor({C}, -1, 1, at::kDouble));
    x.nums["up"] = static_cast<double>(g.integer(1, 2));
    x.nums["down"] = static_cast<double>(g.integer(1, 2));
    x.nums["pad"] = static_cast<double>(g.integer(0, 3));
    x.nums["clamp"] = g.pick({-1.0, 0.5});
    x.nums["flip"] = g.coin() ? 1 : 0;
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const int64_t up = x.integer("up"), down = x.integer("down"), p = x.integer("pad");
    const std::optional<double> clamp = x.num("clamp") < 0 ? std::nullopt : std::optional<double>(x.num("clamp"));
    const bool flip = x.num("flip") != 0;
    auto out = mmcv::ops::filtered_lrelu(x.t("input"), x.t("fu"), x.t("fd"), x.t("bias"), up, down, p, 1.3, 0.2, clamp, flip);
    v.close(out, stylegan_ref::filtered_lrelu(x.t("input"), x.t("fu"), x.t("fd"), x.t("bias"), up, down, {p, p, p, p}, 1.3, 0.2, clamp, flip),
            kTol64, "vs _filtered_lrelu_ref");
  };
  s.property_cases = 200;
  return s;
}

MMCV_RELIABILITY_OP(conv2d_gradfix_conv2d) {
  OpSpec s;
  s.op = "conv2d_gradfix.conv2d";
  s.inputs = [] {
    Gen g(34);
    return Tensors{g.uniform_tensor({2, 4, 6, 5}, -1, 1, at::kFloat), g.uniform_tensor({3, 4, 3, 2}, -1, 1, at::kFloat),
                   g.uniform_tensor({3}, -1, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::conv2d_gradfix::conv2d(y[0], y[1], y[2], 1, 1); }, x,
                                {true, true, true});
  };
  s.args = {{"input", {"N", "Cin", "H", "W"}, ArgKind::kFloatHalfOk},
            {"weight", {"Cout", "Cin", "kh", "kw"}, ArgKind::kFloatHalfOk},
            {"bias", {"Cout"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"N"};
  s.generate = [](Gen& g) {
    Sample x;
    x.add("input", g.uniform_tensor({g.integer(0, 2), 2, g.integer(3, 6), g.integer(3, 6)}, -1, 1, at::kDouble));
    x.add("weight", g.uniform_tensor({g.integer(1, 3), 2, g.integer(1, 3), g.integer(1, 3)}, -1, 1, at::kDouble));
    x.nums["stride"] = static_cast<double>(g.integer(1, 2));
    x.nums["padding"] = static_cast<double>(g.integer(0, 1));
    x.nums["guard"] = g.coin() ? 1 : 0;
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    auto in = x.t("input").clone().requires_grad_(true);
    auto w = x.t("weight").clone().requires_grad_(true);
    const int64_t st = x.integer("stride"), p = x.integer("padding");
    const bool guard = x.num("guard") != 0;
    std::optional<mmcv::ops::conv2d_gradfix::no_weight_gradients> g;
    if (guard) g.emplace();
    auto out = mmcv::ops::conv2d_gradfix::conv2d(in, w, std::nullopt, st, p);
    v.close(out, at::conv2d(x.t("input"), x.t("weight"), {}, {st, st}, {p, p}), kTol64, "vs at::conv2d");
    out.sum().backward();
    v.require(w.grad().defined() != guard, "weight gradient present iff no guard");
  };
  s.property_cases = 200;
  return s;
}

}  // namespace
