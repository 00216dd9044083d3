// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/active_rotated_filter.hpp (mmcv.ops.active_rotated_filter).

#include <mmcv/ops/active_rotated_filter.hpp>

#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/conv_like_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class active_rotated_filter_test : public DeviceTest {};

TEST_P(active_rotated_filter_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("active_rotated_filter");
  ASSERT_EQ(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto input = dev(c.at("in.input")).requires_grad_(true);
    auto out = mmcv::ops::active_rotated_filter(input, dev(c.at("in.indices")));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, dev(c.at("grad_out.output")), {input})[0], c.at("grad.input"));
  }
}

TEST_P(active_rotated_filter_test, matches_loop_reference) {
  struct Shape {
    int64_t Cout, Cin, O, k, R;
  };
  for (auto s : std::vector<Shape>{{3, 2, 8, 3, 8}, {2, 3, 4, 3, 4}, {1, 1, 8, 1, 8}, {2, 2, 4, 3, 2}, {2, 1, 1, 5, 4}}) {
    SCOPED_TRACE("O=" + std::to_string(s.O) + " k=" + std::to_string(s.k) + " R=" + std::to_string(s.R));
    auto input = at::randn({s.Cout, s.Cin, s.O, s.k, s.k}, f64()).requires_grad_(true);
    auto idx = conv_ref::orn_indices(s.O, s.k, s.R).to(device());
    auto out = mmcv::ops::active_rotated_filter(input, idx);
    EXPECT_ALLCLOSE(out, conv_ref::active_rotated_filter(input.detach(), idx));
    auto go = at::randn(out.sizes(), f64());
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, go, {input})[0], conv_ref::active_rotated_filter_backward(go, idx, input.sizes()));
    EXPECT_ALLCLOSE(mmcv::ops::active_rotated_filter(input.detach().to(at::kFloat), idx.to(at::kLong)),
                    conv_ref::active_rotated_filter(input.detach(), idx).to(at::kFloat));
  }
}

// A table that is not a permutation: duplicate targets (the last source wins, as MMCV's serial
// loop) and entries nobody writes (0).
TEST_P(active_rotated_filter_test, non_permutation_indices_follow_the_serial_loop) {
  auto input = at::randn({2, 3, 2, 2, 2}, f64());
  auto idx = at::randint(1, 9, {2, 2, 2, 3}, at::TensorOptions().dtype(at::kInt)).to(device());
  idx.view({-1})[0] = 5;
  idx.view({-1})[3] = 5;
  EXPECT_ALLCLOSE(mmcv::ops::active_rotated_filter(input, idx), conv_ref::active_rotated_filter(input, idx));
}

TEST_P(active_rotated_filter_test, gradients_match_finite_differences) {
  auto input = at::randn({2, 2, 4, 3, 3}, f64()).requires_grad_(true);
  auto idx = conv_ref::orn_indices(4, 3, 4).to(device());
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& x) { return mmcv::ops::active_rotated_filter(x[0], idx); }, {input}));
}

TEST_P(active_rotated_filter_test, empty_inputs) {
  auto idx = conv_ref::orn_indices(4, 3, 4).to(device());
  auto out = mmcv::ops::active_rotated_filter(at::zeros({0, 2, 4, 3, 3}, f32()), idx);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 8, 3, 3}));
  out = mmcv::ops::active_rotated_filter(at::zeros({2, 0, 4, 3, 3}, f64()), idx);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{8, 0, 3, 3}));
  EXPECT_EQ(out.scalar_type(), at::kDouble);
}

TEST_P(active_rotated_filter_test, errors_name_op_and_argument) {
  auto x = at::randn({2, 2, 4, 3, 3}, f32());
  auto idx = conv_ref::orn_indices(4, 3, 4).to(device());
  EXPECT_MMCV_ERROR(mmcv::ops::active_rotated_filter(x, idx - 1), "active_rotated_filter: expected indices to hold 1-based entries in [1, O * kh * kw = 36], but got values in [0, 35]");
  EXPECT_MMCV_ERROR(mmcv::ops::active_rotated_filter(x, idx + 1), "but got values in [2, 37]");
  EXPECT_MMCV_ERROR(mmcv::ops::active_rotated_filter(x, idx.narrow(0, 0, 2)), "active_rotated_filter: expected indices to have shape [O, kh, kw, R] (with O = 4, kh = 3, kw = 3), but got [2, 3, 3, 4]");
  EXPECT_MMCV_ERROR(mmcv::ops::active_rotated_filter(x, idx.to(at::kFloat)), "active_rotated_filter: expected indices to have an integer dtype, but got Float");
  EXPECT_MMCV_ERROR(mmcv::ops::active_rotated_filter(x[0], idx), "active_rotated_filter: expected input to be a 5-D tensor");
  EXPECT_MMCV_ERROR(mmcv::ops::active_rotated_filter(x.to(at::kInt), idx), "active_rotated_filter: expected input to have a floating-point dtype");
}

MMCV_INSTANTIATE_DEVICES(active_rotated_filter_test);

}  // namespace
