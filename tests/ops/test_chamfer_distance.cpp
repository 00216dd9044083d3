// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/chamfer_distance.hpp (mmcv.ops.chamfer_distance).

#include <mmcv/ops/chamfer_distance.hpp>

#include "common/test_utils.hpp"
#include "ops/points_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class chamfer_distance_test : public DeviceTest {};

TEST_P(chamfer_distance_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("chamfer_distance");
  ASSERT_GE(names.size(), 3u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    auto a = dev(c.at("in.xyz1")).requires_grad_(true), b = dev(c.at("in.xyz2")).requires_grad_(true);
    const auto r = mmcv::ops::chamfer_distance(a, b);
    EXPECT_EQ(std::get<0>(r).device(), device());
    EXPECT_EQ(std::get<2>(r).scalar_type(), at::kInt);
    EXPECT_ALLCLOSE(std::get<0>(r), c.at("out.dist1"));
    EXPECT_ALLCLOSE(std::get<1>(r), c.at("out.dist2"));
    EXPECT_ALLEQUAL(std::get<2>(r).cpu(), c.at("out.idx1"));
    EXPECT_ALLEQUAL(std::get<3>(r).cpu(), c.at("out.idx2"));
    if (c.has("grad.xyz1")) {
      const auto both = at::cat({std::get<0>(r), std::get<1>(r)}, 1);
      const auto g = mmcv_test::vjp(both, at::cat({dev(c.at("grad_out.dist1")), dev(c.at("grad_out.dist2"))}, 1), {a, b});
      EXPECT_ALLCLOSE(g[0], c.at("grad.xyz1"));
      EXPECT_ALLCLOSE(g[1], c.at("grad.xyz2"));
    }
  }
}

TEST_P(chamfer_distance_test, loop_reference_and_correct_gradient_when_n_differs_from_m) {
  for (auto dt : {at::kFloat, at::kDouble}) {
    auto a = at::randn({2, 70, 2}, f64()).to(dt), b = at::randn({2, 45, 2}, f64()).to(dt);
    b.narrow(1, 20, 10).copy_(b.narrow(1, 0, 10));  // ties: lowest index
    a.narrow(1, 0, 5).copy_(b.narrow(1, 0, 5));
    const auto r = mmcv::ops::chamfer_distance(a, b);
    const auto r1 = dt == at::kFloat ? points_ref::chamfer_dir<float>(a, b) : points_ref::chamfer_dir<double>(a, b);
    const auto r2 = dt == at::kFloat ? points_ref::chamfer_dir<float>(b, a) : points_ref::chamfer_dir<double>(b, a);
    EXPECT_ALLEQUAL(std::get<0>(r).cpu(), r1.first);
    EXPECT_ALLEQUAL(std::get<1>(r).cpu(), r2.first);
    EXPECT_ALLEQUAL(std::get<2>(r).cpu(), r1.second);
    EXPECT_ALLEQUAL(std::get<3>(r).cpu(), r2.second);
  }
  // N != M: finite differences agree (MMCV's backward is wrong here)
  auto a = at::randn({1, 7, 2}, f64()), b = at::randn({1, 4, 2}, f64());
  EXPECT_TRUE(mmcv_test::gradcheck(
      [](const std::vector<at::Tensor>& in) {
        const auto r = mmcv::ops::chamfer_distance(in[0], in[1]);
        return at::cat({std::get<0>(r), std::get<1>(r)}, 1);
      },
      {a.requires_grad_(true), b.requires_grad_(true)}));
}

TEST_P(chamfer_distance_test, tiles_far_points_empty_and_errors) {
  auto a = at::rand({1, 5000, 2}, f32()), b = at::rand({1, 3000, 2}, f32());
  const auto r = mmcv::ops::chamfer_distance(a, b);
  const auto one = mmcv::ops::chamfer_distance(a.narrow(1, 4321, 1), b);
  EXPECT_ALLEQUAL(std::get<2>(r).narrow(1, 4321, 1), std::get<2>(one));
  // distances >= 1e10 read 1e10 with index 0 (MMCV's best init)
  auto far = at::full({1, 1, 2}, 1e6, f32());
  const auto f = mmcv::ops::chamfer_distance(far, at::zeros({1, 3, 2}, f32()));
  EXPECT_EQ(std::get<0>(f).item<float>(), 1e10f);
  EXPECT_EQ(std::get<2>(f).item<int>(), 0);
  const auto e = mmcv::ops::chamfer_distance(at::zeros({2, 3, 2}, f32()), at::zeros({2, 0, 2}, f32()));
  EXPECT_ALLEQUAL(std::get<0>(e).cpu(), at::zeros({2, 3}));
  EXPECT_EQ(std::get<1>(e).sizes(), at::IntArrayRef({2, 0}));
  using mmcv::ops::chamfer_distance;
  EXPECT_MMCV_ERROR(chamfer_distance(at::zeros({2, 3, 3}, f32()), at::zeros({2, 3, 3}, f32())),
                    "chamfer_distance: expected xyz1 to have shape [B, N, 2], but got [2, 3, 3]");
  EXPECT_MMCV_ERROR(chamfer_distance(at::zeros({2, 3, 2}, f32()), at::zeros({1, 3, 2}, f32())),
                    "chamfer_distance: expected xyz2 to have the batch size of xyz1 (2), but got 1");
}

MMCV_INSTANTIATE_DEVICES(chamfer_distance_test);

}  // namespace
