// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/psa_mask.hpp (mmcv.ops.psa_mask.psa_mask) and psa_mask_module.hpp
// (mmcv.ops.PSAMask).

#include <mmcv/ops/psa_mask.hpp>
#include <mmcv/ops/psa_mask_module.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/conv_like_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class psa_mask_test : public DeviceTest {};

TEST_P(psa_mask_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("psamask");
  ASSERT_EQ(names.size(), 5u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto input = dev(c.at("in.input")).requires_grad_(true);
    auto out = mmcv::ops::psa_mask(input, c.param_string("psa_type"), c.param_ints("mask_size"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, dev(c.at("grad_out.output")), {input})[0], c.at("grad.input"));
  }
}

TEST_P(psa_mask_test, matches_loop_reference) {
  struct Shape {
    int64_t N, hm, wm, H, W;
  };
  for (auto s : std::vector<Shape>{{2, 3, 3, 5, 6}, {1, 4, 6, 3, 2}, {1, 1, 1, 4, 4}, {2, 7, 5, 1, 9}, {1, 9, 9, 3, 3}}) {
    for (bool collect : {true, false}) {
      SCOPED_TRACE(std::to_string(s.hm) + "x" + std::to_string(s.wm) + " on " + std::to_string(s.H) + "x" +
                   std::to_string(s.W) + (collect ? " collect" : " distribute"));
      auto input = at::randn({s.N, s.hm * s.wm, s.H, s.W}, f64());
      auto out = mmcv::ops::psa_mask(input, collect ? "collect" : "distribute", {s.hm, s.wm});
      EXPECT_ALLCLOSE(out, conv_ref::psa_mask(input, collect, s.hm, s.wm));
      auto out32 = mmcv::ops::psa_mask(input.to(at::kFloat), collect ? "collect" : "distribute", {s.hm, s.wm});
      EXPECT_EQ(out32.scalar_type(), at::kFloat);
      EXPECT_ALLCLOSE(out32, conv_ref::psa_mask(input, collect, s.hm, s.wm).to(at::kFloat));
    }
  }
  // A single int is MMCV's _pair.
  auto input = at::randn({1, 9, 4, 5}, f64());
  EXPECT_ALLCLOSE(mmcv::ops::psa_mask(input, "collect", 3), conv_ref::psa_mask(input, true, 3, 3));
}

TEST_P(psa_mask_test, gradients_match_finite_differences) {
  for (const char* type : {"collect", "distribute"}) {
    SCOPED_TRACE(type);
    auto input = at::randn({2, 6, 3, 4}, f64()).requires_grad_(true);
    EXPECT_TRUE(mmcv_test::gradcheck(
        [type](const std::vector<at::Tensor>& x) { return mmcv::ops::psa_mask(x[0], type, {2, 3}); }, {input}));
  }
}

TEST_P(psa_mask_test, empty_inputs) {
  auto out = mmcv::ops::psa_mask(at::zeros({0, 9, 4, 5}, f32()), "collect", {3, 3});
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 20, 4, 5}));
  out = mmcv::ops::psa_mask(at::zeros({2, 9, 0, 5}, f64()), "distribute", {3, 3});
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 0, 0, 5}));
  EXPECT_EQ(out.scalar_type(), at::kDouble);
}

TEST_P(psa_mask_test, errors_name_op_and_argument) {
  auto x = at::randn({1, 9, 4, 4}, f32());
  EXPECT_MMCV_ERROR(mmcv::ops::psa_mask(x, "gather", {3, 3}), "psa_mask: expected psa_type to be one of {\"collect\", \"distribute\"}, but got \"gather\"");
  EXPECT_MMCV_ERROR(mmcv::ops::psa_mask(x, "collect", {3, 4}), "psa_mask: expected input to have mask_size[0] * mask_size[1] = 12 channels, but got 9");
  EXPECT_MMCV_ERROR(mmcv::ops::psa_mask(x, "collect", {0, 3}), "psa_mask: expected mask_size to be positive, but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::psa_mask(x, "collect", {3, 3, 3}), "psa_mask: expected mask_size to be an int or a pair of ints");
  EXPECT_MMCV_ERROR(mmcv::ops::psa_mask(x[0], "collect", {3, 3}), "psa_mask: expected input to be a 4-D tensor");
  EXPECT_MMCV_ERROR(mmcv::ops::psa_mask(x.to(at::kInt), "collect", {3, 3}), "psa_mask: expected input to have a floating-point dtype");
}

TEST_P(psa_mask_test, module_matches_function) {
  mmcv::ops::PSAMask layer("distribute", {3, 3});
  auto x = at::randn({2, 9, 5, 4}, f32());
  EXPECT_ALLCLOSE(layer(x), mmcv::ops::psa_mask(x, "distribute", {3, 3}));
  std::ostringstream os;
  os << *layer;
  EXPECT_EQ(os.str(), "mmcv::ops::PSAMask(psa_type=distribute, mask_size=(3, 3))");
  EXPECT_MMCV_ERROR(mmcv::ops::PSAMask("x", {3, 3}), "PSAMask: expected psa_type to be one of");
}

MMCV_INSTANTIATE_DEVICES(psa_mask_test);

}  // namespace
