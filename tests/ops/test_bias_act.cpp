// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/bias_act.hpp (mmcv.ops.bias_act). No MMCV reference cases exist:
// the specification is `_bias_act_ref`, restated in tests/ops/stylegan_reference.hpp, compared on
// every activation of MMCV's table, with and without bias / gain / alpha / clamp, with and without
// a gradient being recorded (the fused in-place path and the autograd path), plus gradcheck and
// second-order checks.

#include <mmcv/ops/bias_act.hpp>

#include <torch/csrc/autograd/autograd.h>

#include <optional>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/stylegan_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

const std::vector<std::string> kActs = {"linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"};

class bias_act_test : public DeviceTest {};

TEST_P(bias_act_test, matches_reference_for_every_activation) {
  for (auto dt : {at::kDouble, at::kFloat}) {
    auto x = at::randn({2, 5, 3, 4}, at::TensorOptions().dtype(dt).device(device())) * 3;
    auto b = at::randn({5}, x.options());
    auto b3 = at::randn({4}, x.options());
    for (const auto& act : kActs) {
      for (int variant = 0; variant < 5; ++variant) {
        std::optional<at::Tensor> bias;
        int64_t dim = 1;
        std::optional<double> alpha, gain, clamp;
        if (variant == 1) bias = b;
        if (variant == 2) { bias = b3; dim = 3; gain = 0.5; clamp = 1.5; }
        if (variant == 3) { alpha = 0.3; gain = -2.0; clamp = 0.0; }
        if (variant == 4) { bias = b; gain = 3.0; clamp = 2.0; alpha = 0.05; }
        SCOPED_TRACE(act + " variant " + std::to_string(variant) + " " + std::string(c10::toString(dt)));
        auto ref = stylegan_ref::bias_act(x, bias, dim, act, alpha, gain, clamp);
        for (bool grad : {false, true}) {
          auto xi = x.clone().requires_grad_(grad);
          std::optional<at::Tensor> bi;
          if (bias) bi = bias->clone().requires_grad_(grad);
          auto out = mmcv::ops::bias_act(xi, bi, dim, act, alpha, gain, clamp);
          EXPECT_EQ(out.scalar_type(), dt);
          EXPECT_ALLCLOSE(out, ref);
          if (grad) {
            auto xr = x.clone().requires_grad_(true);
            std::optional<at::Tensor> br;
            if (bias) br = bias->clone().requires_grad_(true);
            auto r = stylegan_ref::bias_act(xr, br, dim, act, alpha, gain, clamp);
            auto go = at::randn(r.sizes(), x.options());
            std::vector<at::Tensor> ins = {xi}, rins = {xr};
            if (bias) { ins.push_back(*bi); rins.push_back(*br); }
            auto ga = mmcv_test::vjp(out, go, ins), gr = mmcv_test::vjp(r, go, rins);
            for (size_t k = 0; k < ga.size(); ++k) EXPECT_ALLCLOSE(ga[k], gr[k]);
          }
        }
      }
    }
  }
}

TEST_P(bias_act_test, does_not_modify_its_inputs) {
  auto x = at::randn({3, 4}, f32());
  auto keep = x.clone();
  auto y = mmcv::ops::bias_act(x, std::nullopt, 1, "lrelu", std::nullopt, std::nullopt, 0.5);
  EXPECT_ALLEQUAL(x, keep);
  EXPECT_ALLCLOSE(y, stylegan_ref::bias_act(keep, std::nullopt, 1, "lrelu", std::nullopt, std::nullopt, 0.5));
  // linear, no bias, gain 1: the input itself (the reference returns it unchanged)
  EXPECT_TRUE(mmcv::ops::bias_act(x).is_same(x));
}

TEST_P(bias_act_test, gradients_first_and_second_order) {
  for (const auto& act : kActs) {
    SCOPED_TRACE(act);
    // keep values away from the kinks of relu / lrelu / elu / clamp for finite differences
    auto x = (at::rand({2, 3, 4}, f64()) * 2 + 0.2) * (at::randint(0, 2, {2, 3, 4}, f64()) * 2 - 1);
    x = x.requires_grad_(true);
    auto b = (at::rand({3}, f64()) * 0.05).requires_grad_(true);
    auto fn = [&](const at::Tensor& xi, const at::Tensor& bi) {
      return mmcv::ops::bias_act(xi, bi, 1, act, std::nullopt, 1.7, 100.0);
    };
    EXPECT_TRUE(mmcv_test::gradcheck([&](const std::vector<at::Tensor>& in) { return fn(in[0], in[1]); }, {x, b}));
    // second order, as gradgradcheck: the input gradient differentiated w.r.t. grad_output, and
    // (smooth activations; the others have a zero second derivative) w.r.t. the input.
    auto v = at::randn(x.sizes(), f64()).requires_grad_(true);
    EXPECT_TRUE(mmcv_test::gradcheck(
        [&](const std::vector<at::Tensor>& in) {
          at::AutoGradMode enable(true);
          auto y = fn(x, b);
          auto g = torch::autograd::grad({y}, {x, b}, {in[0]}, /*retain_graph=*/true, /*create_graph=*/true);
          return at::cat({g[0].reshape({-1}), g[1]});
        },
        {v}));
    if (act == "linear" || act == "relu" || act == "lrelu") continue;
    auto vd = v.detach();
    EXPECT_TRUE(mmcv_test::gradcheck(
        [&](const std::vector<at::Tensor>& in) {
          at::AutoGradMode enable(true);
          auto y = fn(in[0], b.detach());
          return torch::autograd::grad({y}, {in[0]}, {vd}, /*retain_graph=*/true, /*create_graph=*/true)[0];
        },
        {x}));
  }
}

TEST_P(bias_act_test, empty_and_layouts) {
  auto e = at::randn({0, 3, 2}, f32());
  EXPECT_EQ(mmcv::ops::bias_act(e, at::zeros({3}, f32()), 1, "swish").sizes(), e.sizes());
  auto x = at::randn({2, 6, 5, 5}, f32()).contiguous(at::MemoryFormat::ChannelsLast);
  auto b = at::randn({6}, f32());
  EXPECT_ALLCLOSE(mmcv::ops::bias_act(x, b, 1, "lrelu", std::nullopt, std::nullopt, 1.0),
                  stylegan_ref::bias_act(x.contiguous(), b, 1, "lrelu", std::nullopt, std::nullopt, 1.0));
}

TEST_P(bias_act_test, bad_inputs_throw_named_errors) {
  auto x = at::randn({2, 3}, f32());
  using mmcv::ops::bias_act;
  EXPECT_MMCV_ERROR(bias_act(x, std::nullopt, 1, "gelu"),
                    "bias_act: expected act to be one of {\"linear\", \"relu\", \"lrelu\", \"tanh\", \"sigmoid\", \"elu\", \"selu\", \"softplus\", \"swish\"}, but got \"gelu\"");
  EXPECT_MMCV_ERROR(bias_act(x, at::ones({2}, f32())), "bias_act: expected bias to have input.size(dim) = 3 elements, but got 2");
  EXPECT_MMCV_ERROR(bias_act(x, at::ones({3}, f32()), 2), "bias_act: expected dim to be in [0, 2), but got 2");
  EXPECT_MMCV_ERROR(bias_act(x, at::ones({3}, f32()), -1), "bias_act: expected dim to be in [0, 2), but got -1");
  EXPECT_MMCV_ERROR(bias_act(x, at::ones({3, 1}, f32())), "bias_act: expected bias to be a 1-D tensor");
  EXPECT_MMCV_ERROR(bias_act(x, at::ones({3}, f64())), "bias_act: expected bias to have the same dtype as input (Float), but got Double");
  EXPECT_MMCV_ERROR(bias_act(x, std::nullopt, 1, "relu", std::nullopt, std::nullopt, -1.0), "bias_act: expected clamp to be >= 0 (or nullopt), but got -1");
  EXPECT_MMCV_ERROR(bias_act(x, std::nullopt, 1, "relu", std::nullopt, NAN), "bias_act: expected gain to be finite, but got nan");
  EXPECT_MMCV_ERROR(bias_act(x.to(at::kLong)), "bias_act: expected input to have a floating-point dtype");
}

MMCV_INSTANTIATE_DEVICES(bias_act_test);

}  // namespace
