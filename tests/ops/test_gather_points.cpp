// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/gather_points.hpp (mmcv.ops.gather_points).

#include <mmcv/ops/gather_points.hpp>

#include "common/test_utils.hpp"

namespace {

using mmcv_test::DeviceTest;

class gather_points_test : public DeviceTest {};

TEST_P(gather_points_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("gather_points");
  ASSERT_GE(names.size(), 2u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    auto f = dev(c.at("in.features")).requires_grad_(true);
    const auto out = mmcv::ops::gather_points(f, dev(c.at("in.indices")));
    EXPECT_EQ(out.device(), device());
    EXPECT_ALLEQUAL(out.detach().cpu(), c.at("out.output"));
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, dev(c.at("grad_out.output")), {f})[0], c.at("grad.features"));
  }
}

TEST_P(gather_points_test, loop_reference_and_gradcheck) {
  auto f = at::randn({2, 3, 15}, f64());
  auto idx = at::randint(0, 15, {2, 25}, f64()).to(at::kInt);
  idx.narrow(1, 0, 3).fill_(2);  // repeats accumulate
  const auto out = mmcv::ops::gather_points(f, idx).cpu();
  auto fc = f.cpu();
  auto ic = idx.cpu();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t m = 0; m < 25; ++m)
        EXPECT_EQ(out[b][c][m].item<double>(), fc[b][c][ic[b][m].item<int>()].item<double>());
  EXPECT_TRUE(mmcv_test::gradcheck([&](const std::vector<at::Tensor>& in) { return mmcv::ops::gather_points(in[0], idx); },
                                   {f.clone().requires_grad_(true)}));
  EXPECT_EQ(mmcv::ops::gather_points(f.to(at::kHalf), idx).scalar_type(), at::kHalf);
}

TEST_P(gather_points_test, empty_inputs_and_errors) {
  EXPECT_EQ(mmcv::ops::gather_points(at::zeros({2, 3, 4}, f32()), at::zeros({2, 0}, at::kInt).to(device())).sizes(),
            at::IntArrayRef({2, 3, 0}));
  auto f = at::randn({2, 3, 4}, f32());
  using mmcv::ops::gather_points;
  EXPECT_MMCV_ERROR(gather_points(f, at::zeros({3, 2}, at::kInt).to(device())),
                    "gather_points: expected indices to have shape [B, M] (with B = 2), but got [3, 2]");
  EXPECT_MMCV_ERROR(gather_points(f, at::full({2, 2}, -1, at::kInt).to(device())),
                    "gather_points: expected indices to be in [0, 3], but got -1");
  EXPECT_MMCV_ERROR(gather_points(f.to(at::kInt), at::zeros({2, 2}, at::kInt).to(device())),
                    "gather_points: expected features to have a floating-point dtype");
}

MMCV_INSTANTIATE_DEVICES(gather_points_test);

}  // namespace
