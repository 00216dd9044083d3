// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/masked_conv.hpp (mmcv.ops.masked_conv2d) and masked_conv_module.hpp
// (mmcv.ops.MaskedConv2d).

#include <mmcv/ops/masked_conv.hpp>
#include <mmcv/ops/masked_conv_module.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/conv_like_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class masked_conv_test : public DeviceTest {};

TEST_P(masked_conv_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("masked_conv2d");
  ASSERT_EQ(names.size(), 6u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto out = mmcv::ops::masked_conv2d(dev(c.at("in.features")), dev(c.at("in.mask")), dev(c.at("in.weight")),
                                        dev(c.at("in.bias")), c.param_ints("padding"), c.param_ints("stride"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
  }
}

TEST_P(masked_conv_test, matches_loop_reference) {
  struct Case {
    int64_t N, C, H, W, O, kh, kw, ph, pw, sh, sw;
    double density;
  };
  for (auto s : std::vector<Case>{{1, 3, 7, 8, 4, 3, 3, 1, 1, 1, 1, 0.3},
                                  {2, 2, 6, 9, 3, 3, 5, 0, 2, 1, 1, 0.5},
                                  {3, 4, 9, 7, 2, 3, 3, 1, 1, 2, 2, 0.6},   // batch > 1, stride > 1
                                  {2, 3, 8, 8, 5, 1, 1, 2, 0, 1, 3, 0.4},   // padding beyond the mask
                                  {1, 2, 5, 5, 3, 5, 5, 0, 0, 1, 1, 1.0},   // a single output pixel
                                  {2, 3, 6, 6, 2, 3, 3, 1, 1, 1, 1, 0.0}}) {  // empty mask
    SCOPED_TRACE("k=" + std::to_string(s.kh) + "x" + std::to_string(s.kw) + " s=" + std::to_string(s.sh) + "x" +
                 std::to_string(s.sw) + " N=" + std::to_string(s.N));
    auto f = at::randn({s.N, s.C, s.H, s.W}, f64());
    auto mask = (at::rand({s.N, s.H, s.W}, f64()) < s.density).to(at::kDouble) * at::randn({s.N, s.H, s.W}, f64()).abs();
    auto w = at::randn({s.O, s.C, s.kh, s.kw}, f64());
    auto b = at::randn({s.O}, f64());
    auto ref = conv_ref::masked_conv2d(f, mask, w, b, s.ph, s.pw, s.sh, s.sw);
    auto out = mmcv::ops::masked_conv2d(f, mask, w, b, {s.ph, s.pw}, {s.sh, s.sw});
    EXPECT_ALLCLOSE(out, ref);
    auto out32 = mmcv::ops::masked_conv2d(f.to(at::kFloat), mask.to(at::kFloat), w.to(at::kFloat), b.to(at::kFloat),
                                          {s.ph, s.pw}, {s.sh, s.sw});
    EXPECT_ALLCLOSE(out32, ref.to(at::kFloat));
    // No bias (an undefined tensor).
    EXPECT_ALLCLOSE(mmcv::ops::masked_conv2d(f, mask, w, at::Tensor(), {s.ph, s.pw}, {s.sh, s.sw}),
                    conv_ref::masked_conv2d(f, mask, w, at::Tensor(), s.ph, s.pw, s.sh, s.sw));
    // Equals the dense convolution times (mask > 0) when the mask grid matches the output grid.
    if (s.sh == 1 && s.sw == 1 && 2 * s.ph + 1 == s.kh && 2 * s.pw + 1 == s.kw) {
      EXPECT_ALLCLOSE(out, at::conv2d(f, w, b, 1, {s.ph, s.pw}) * (mask > 0).unsqueeze(1).to(at::kDouble));
    }
  }
}

TEST_P(masked_conv_test, has_no_gradient) {
  auto f = at::randn({1, 2, 4, 4}, f64()).requires_grad_(true);
  auto w = at::randn({3, 2, 3, 3}, f64()).requires_grad_(true);
  auto out = mmcv::ops::masked_conv2d(f, at::ones({1, 4, 4}, f64()), w, at::zeros({3}, f64()), 1);
  EXPECT_FALSE(out.requires_grad());
}

TEST_P(masked_conv_test, empty_inputs) {
  auto w = at::randn({3, 2, 3, 3}, f32());
  auto out = mmcv::ops::masked_conv2d(at::zeros({0, 2, 5, 6}, f32()), at::zeros({0, 5, 6}, f32()), w, at::zeros({3}, f32()), 1);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 3, 5, 6}));
  // Zero input channels: the bias at the set positions.
  auto mask = at::ones({1, 4, 4}, f32());
  out = mmcv::ops::masked_conv2d(at::zeros({1, 0, 4, 4}, f32()), mask, at::zeros({3, 0, 3, 3}, f32()),
                                 at::ones({3}, f32()), 1);
  EXPECT_ALLCLOSE(out, at::ones({1, 3, 4, 4}, f32()));
}

TEST_P(masked_conv_test, errors_name_op_and_argument) {
  auto f = at::randn({1, 2, 5, 6}, f32());
  auto m = at::ones({1, 5, 6}, f32());
  auto w = at::randn({3, 2, 3, 3}, f32());
  auto b = at::zeros({3}, f32());
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m.narrow(1, 0, 4), w, b), "masked_conv2d: expected mask to have shape [N, H, W] (with N = 1, H = 5, W = 6), but got [1, 4, 6]");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m, w.narrow(1, 0, 1), b), "masked_conv2d: expected weight to have shape [Cout, C, kh, kw] (with C = 2), but got [3, 1, 3, 3]");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m, w, b.narrow(0, 0, 2)), "masked_conv2d: expected bias to have shape [Cout] (with Cout = 3), but got [2]");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m, w.to(at::kDouble), b), "masked_conv2d: expected weight to have the same dtype as features (Float), but got Double");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m, w, b, -1), "masked_conv2d: expected padding to be non-negative, but got -1");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m, w, b, 0, 0), "masked_conv2d: expected stride to be positive, but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m, at::randn({3, 2, 7, 3}, f32()), b), "masked_conv2d: expected weight to have a kernel of at least 1 x 1 and at most the padded input 5 x 6, but got 7 x 3");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f.to(at::kInt), m, w, b), "masked_conv2d: expected features to have a floating-point dtype");
  EXPECT_MMCV_ERROR(mmcv::ops::masked_conv2d(f, m.to(at::kComplexFloat), w, b), "masked_conv2d: expected mask to have a real dtype, but got ComplexFloat");
  // A bool or integer mask is read as mask > 0, like a float one.
  auto half_mask = (at::rand({1, 5, 6}, f32()) > 0.5).to(at::kFloat);
  EXPECT_ALLCLOSE(mmcv::ops::masked_conv2d(f, half_mask.to(at::kBool), w, b, 1), mmcv::ops::masked_conv2d(f, half_mask, w, b, 1));
  EXPECT_ALLCLOSE(mmcv::ops::masked_conv2d(f, half_mask.to(at::kInt), w, b, 1), mmcv::ops::masked_conv2d(f, half_mask, w, b, 1));
}

TEST_P(masked_conv_test, module_matches_function_and_conv) {
  mmcv::ops::MaskedConv2d conv(3, 4, 3, /*stride=*/1, /*padding=*/1);
  conv->to(device());
  auto x = at::randn({2, 3, 6, 7}, f32());
  auto mask = (at::rand({2, 6, 7}, f32()) > 0.5).to(at::kFloat);
  EXPECT_ALLCLOSE(conv(x, mask), mmcv::ops::masked_conv2d(x, mask, conv->weight, conv->bias, 1));
  EXPECT_ALLCLOSE(conv(x), at::conv2d(x, conv->weight, conv->bias, 1, 1));
  EXPECT_EQ(conv->named_parameters().size(), 2u);
  EXPECT_TRUE(conv->named_parameters().contains("weight"));
  EXPECT_TRUE(conv->named_parameters().contains("bias"));
  // nn.Conv2d's init bounds: |w| <= 1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)), |b| likewise.
  const double bound = 1.0 / std::sqrt(27.0);
  EXPECT_LE(conv->weight.abs().max().item<double>(), bound + 1e-7);
  EXPECT_LE(conv->bias.abs().max().item<double>(), bound + 1e-7);
  std::ostringstream os;
  os << *conv;
  EXPECT_EQ(os.str(), "mmcv::ops::MaskedConv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1, bias=True)");
  mmcv::ops::MaskedConv2d nob(3, 4, 3, 1, 0, 2, 1, false);
  EXPECT_FALSE(nob->bias.defined());
  EXPECT_MMCV_ERROR(nob(x, mask), "MaskedConv2d: expected dilation to be 1 when a mask is given, but got (2, 2)");
}

MMCV_INSTANTIATE_DEVICES(masked_conv_test);

}  // namespace
