// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/tin_shift.hpp (mmcv.ops.tin_shift) and tin_shift_module.hpp
// (mmcv.ops.TINShift).

#include <mmcv/ops/tin_shift.hpp>
#include <mmcv/ops/tin_shift_module.hpp>

#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/conv_like_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class tin_shift_test : public DeviceTest {};

// The forward matches MMCV's outputs. MMCV's backward is wrong (it shifts grad_output by +s
// again): its stored grad.input equals the forward applied to grad_out, which we check to pin the
// reading of the files, while our gradient is the adjoint (-s shift) -- docs/differences.md.
TEST_P(tin_shift_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("tin_shift");
  ASSERT_EQ(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto input = dev(c.at("in.input")).requires_grad_(true);
    const auto shift = dev(c.at("in.shift"));
    auto out = mmcv::ops::tin_shift(input, shift);
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    const auto go = dev(c.at("grad_out.output"));
    // MMCV's stored gradient is the forward shift of grad_out ...
    EXPECT_ALLCLOSE(mmcv::ops::tin_shift(go, shift), c.at("grad.input"));
    // ... ours is the true gradient.
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, go, {input})[0], conv_ref::tin_shift_adjoint(go, shift).to(go.scalar_type()));
  }
}

TEST_P(tin_shift_test, matches_loop_reference) {
  for (int64_t G : {1, 2, 4}) {
    SCOPED_TRACE("G=" + std::to_string(G));
    const int64_t N = 3, T = 5, C = 8, S = 6;
    auto input = at::randn({N, T, C, S}, f64());
    // Shifts in (-T - 2, T + 2): zero, in range, and whole-group-out cases.
    auto shift = at::randint(-T - 2, T + 3, {N, G}, at::TensorOptions().dtype(at::kInt).device(device()));
    shift[0][0] = 0;
    auto out = mmcv::ops::tin_shift(input, shift);
    EXPECT_ALLCLOSE(out, conv_ref::tin_shift(input, shift));
    // int64 shift gives the same result.
    EXPECT_ALLCLOSE(mmcv::ops::tin_shift(input, shift.to(at::kLong)), out);
    // float32
    EXPECT_ALLCLOSE(mmcv::ops::tin_shift(input.to(at::kFloat), shift), conv_ref::tin_shift(input, shift).to(at::kFloat));
  }
  // Extreme int64 shifts do not overflow.
  auto input = at::randn({1, 3, 2, 2}, f64());
  auto shift = at::tensor({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()},
                          at::TensorOptions().dtype(at::kLong)).view({1, 2}).to(device());
  EXPECT_EQ(mmcv::ops::tin_shift(input, shift).abs().sum().item<double>(), 0.0);
}

TEST_P(tin_shift_test, gradients_match_finite_differences) {
  auto input = at::randn({2, 4, 6, 3}, f64()).requires_grad_(true);
  auto shift = at::tensor({1, -2, 0, 3, -1, 2}, at::TensorOptions().dtype(at::kInt)).view({2, 3}).to(device());
  EXPECT_TRUE(mmcv_test::gradcheck([&](const std::vector<at::Tensor>& x) { return mmcv::ops::tin_shift(x[0], shift); },
                                   {input}));
}

TEST_P(tin_shift_test, empty_inputs) {
  auto shift = at::zeros({0, 2}, at::TensorOptions().dtype(at::kInt).device(device()));
  auto out = mmcv::ops::tin_shift(at::zeros({0, 4, 6, 5}, f32()), shift);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 4, 6, 5}));
  auto shift1 = at::zeros({1, 2}, at::TensorOptions().dtype(at::kInt).device(device()));
  out = mmcv::ops::tin_shift(at::zeros({1, 0, 6, 5}, f64()), shift1);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 0, 6, 5}));
  out = mmcv::ops::tin_shift(at::zeros({1, 4, 6, 0}, f64()), shift1);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 4, 6, 0}));
}

TEST_P(tin_shift_test, errors_name_op_and_argument) {
  auto x = at::randn({2, 4, 6, 5}, f32());
  auto shift = at::zeros({2, 4}, at::TensorOptions().dtype(at::kInt).device(device()));
  EXPECT_MMCV_ERROR(mmcv::ops::tin_shift(x, shift), "tin_shift: expected shift to have a number of groups G > 0 dividing C = 6, but got G = 4");
  EXPECT_MMCV_ERROR(mmcv::ops::tin_shift(x, shift.narrow(1, 0, 0)), "tin_shift: expected shift to have a number of groups G > 0");
  EXPECT_MMCV_ERROR(mmcv::ops::tin_shift(x, shift.narrow(0, 0, 1).narrow(1, 0, 2)), "tin_shift: expected shift to have shape [N, G] (with N = 2), but got [1, 2]");
  EXPECT_MMCV_ERROR(mmcv::ops::tin_shift(x.unsqueeze(0), shift), "tin_shift: expected input to have shape [N, T, C, *], but got [1, 2, 4, 6, 5]");
  EXPECT_MMCV_ERROR(mmcv::ops::tin_shift(x, shift.to(at::kFloat).narrow(1, 0, 2)), "tin_shift: expected shift to have an integer dtype, but got Float");
  EXPECT_MMCV_ERROR(mmcv::ops::tin_shift(x[0], shift), "tin_shift: expected input to have shape [N, T, C, *], but got [4, 6, 5]");
  EXPECT_MMCV_ERROR(mmcv::ops::tin_shift(x.to(at::kLong), shift), "tin_shift: expected input to have a floating-point dtype");
}

TEST_P(tin_shift_test, module_matches_function) {
  mmcv::ops::TINShift layer;
  auto x = at::randn({2, 4, 6, 5}, f32());
  auto shift = at::tensor({1, -1, 2, 0}, at::TensorOptions().dtype(at::kInt)).view({2, 2}).to(device());
  EXPECT_ALLCLOSE(layer(x, shift), mmcv::ops::tin_shift(x, shift));
  std::ostringstream os;
  os << *layer;
  EXPECT_EQ(os.str(), "mmcv::ops::TINShift()");
}

MMCV_INSTANTIATE_DEVICES(tin_shift_test);

}  // namespace
