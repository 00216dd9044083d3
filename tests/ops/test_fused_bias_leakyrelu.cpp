// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/fused_bias_leakyrelu.hpp (mmcv.ops.fused_bias_leakyrelu) and
// fused_bias_leakyrelu_module.hpp (FusedBiasLeakyReLU). Specification: `bias_leakyrelu_ref`
// (tests/ops/stylegan_reference.hpp); gradients (input and bias) of first and second order.

#include <mmcv/ops/fused_bias_leakyrelu.hpp>
#include <mmcv/ops/fused_bias_leakyrelu_module.hpp>

#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <sstream>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/stylegan_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class fused_bias_leakyrelu_test : public DeviceTest {};

TEST_P(fused_bias_leakyrelu_test, matches_reference) {
  for (auto dt : {at::kDouble, at::kFloat}) {
    auto opt = at::TensorOptions().dtype(dt).device(device());
    for (auto shape : std::vector<std::vector<int64_t>>{{2, 4, 3, 5}, {3, 4}, {2, 4, 7}}) {
      auto x = at::randn(shape, opt);
      auto b = at::randn({4}, opt);
      for (double slope : {0.2, 0.0, -0.5}) {
        for (double scale : {std::sqrt(2.0), 1.0, -3.0}) {
          auto ref = stylegan_ref::bias_leakyrelu(x, b, slope, scale);
          EXPECT_ALLCLOSE(mmcv::ops::fused_bias_leakyrelu(x, b, slope, scale), ref);
          auto xi = x.clone().requires_grad_(true), bi = b.clone().requires_grad_(true);
          auto xr = x.clone().requires_grad_(true), br = b.clone().requires_grad_(true);
          auto out = mmcv::ops::fused_bias_leakyrelu(xi, bi, slope, scale);
          auto r = stylegan_ref::bias_leakyrelu(xr, br, slope, scale);
          EXPECT_ALLCLOSE(out, r);
          auto go = at::randn(r.sizes(), opt);
          auto ga = mmcv_test::vjp(out, go, {xi, bi}), gr = mmcv_test::vjp(r, go, {xr, br});
          EXPECT_ALLCLOSE(ga[0], gr[0]);
          EXPECT_ALLCLOSE(ga[1], gr[1]);
        }
      }
    }
  }
  // defaults: slope 0.2, scale sqrt(2); a float32 bias is cast to a float64 input's dtype
  auto x = at::randn({2, 3, 4}, f64());
  auto b = at::randn({3}, f32());
  EXPECT_ALLCLOSE(mmcv::ops::fused_bias_leakyrelu(x, b), stylegan_ref::bias_leakyrelu(x, b.to(at::kDouble), 0.2, std::sqrt(2.0)));
}

TEST_P(fused_bias_leakyrelu_test, gradients_first_and_second_order) {
  auto x = ((at::rand({2, 3, 4}, f64()) + 0.1) * (at::randint(0, 2, {2, 3, 4}, f64()) * 2 - 1)).requires_grad_(true);
  auto b = (at::rand({3}, f64()) * 0.05).requires_grad_(true);
  auto fn = [](const at::Tensor& xi, const at::Tensor& bi) { return mmcv::ops::fused_bias_leakyrelu(xi, bi, 0.2, 1.5); };
  EXPECT_TRUE(mmcv_test::gradcheck([&](const std::vector<at::Tensor>& in) { return fn(in[0], in[1]); }, {x, b}));
  // double backward w.r.t. grad_output (gradgradcheck's non-trivial part for a piecewise-linear op)
  auto v = at::randn(x.sizes(), f64()).requires_grad_(true);
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) {
        at::AutoGradMode enable(true);
        auto y = fn(x, b);
        auto g = torch::autograd::grad({y}, {x, b}, {in[0]}, /*retain_graph=*/true, /*create_graph=*/true);
        return at::cat({g[0].reshape({-1}), g[1]});
      },
      {v}));
}

TEST_P(fused_bias_leakyrelu_test, module) {
  mmcv::ops::FusedBiasLeakyReLU act(4);
  act->to(device());
  auto x = at::randn({2, 4, 3}, f32());
  EXPECT_ALLCLOSE(act(x), stylegan_ref::bias_leakyrelu(x, at::zeros({4}, f32()), 0.2, std::sqrt(2.0)));
  auto params = act->named_parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params["bias"].sizes(), at::IntArrayRef({4}));
  EXPECT_ALLEQUAL(params["bias"].cpu(), at::zeros({4}));
  auto y = act(x);
  y.sum().backward();
  EXPECT_TRUE(act->bias.grad().defined());
  std::ostringstream os;
  os << *act;
  EXPECT_EQ(os.str(), "mmcv::ops::FusedBiasLeakyReLU(num_channels=4, negative_slope=0.2, scale=1.4142135623730951)");
}

TEST_P(fused_bias_leakyrelu_test, empty_and_errors) {
  EXPECT_EQ(mmcv::ops::fused_bias_leakyrelu(at::randn({0, 3, 2}, f32()), at::zeros({3}, f32())).sizes(), at::IntArrayRef({0, 3, 2}));
  using mmcv::ops::fused_bias_leakyrelu;
  auto x = at::randn({2, 3}, f32());
  EXPECT_MMCV_ERROR(fused_bias_leakyrelu(x, at::ones({2}, f32())), "fused_bias_leakyrelu: expected bias to have input.size(1) = 3 elements, but got 2");
  EXPECT_MMCV_ERROR(fused_bias_leakyrelu(x[0], at::ones({3}, f32())), "fused_bias_leakyrelu: expected input to have at least 2 dims [N, C, ...], but got 1-D");
  EXPECT_MMCV_ERROR(fused_bias_leakyrelu(x, at::ones({3, 1}, f32())), "fused_bias_leakyrelu: expected bias to be a 1-D tensor");
  EXPECT_MMCV_ERROR(fused_bias_leakyrelu(x, at::ones({3}, f32()), NAN), "fused_bias_leakyrelu: expected negative_slope to be finite, but got nan");
  EXPECT_MMCV_ERROR(mmcv::ops::FusedBiasLeakyReLU(-1), "FusedBiasLeakyReLU: expected num_channels to be non-negative, but got -1");
}

MMCV_INSTANTIATE_DEVICES(fused_bias_leakyrelu_test);

}  // namespace
