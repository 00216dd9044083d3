// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/furthest_point_sample.hpp (mmcv.ops.furthest_point_sample and
// furthest_point_sample_with_dist, MMCV's CUDA kernel semantics incl. its reduction tie order).

#include <mmcv/ops/furthest_point_sample.hpp>

#include "common/test_utils.hpp"
#include "ops/points_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class furthest_point_sample_test : public DeviceTest {};

TEST_P(furthest_point_sample_test, matches_mmcv_reference) {
  auto names = mmcv_test::cases_for_op("furthest_point_sample");
  ASSERT_GE(names.size(), 5u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    const auto x = dev(c.at("in.points_xyz"));
    const int64_t m = c.param_int("num_points");
    const auto out = mmcv::ops::furthest_point_sample(x, m);
    if (!c.has("out.idx")) {  // MMCV raises for float64 (float32-only binding); we compute it
      EXPECT_ALLEQUAL(out.cpu(), points_ref::fps<double>(x, m));
      continue;
    }
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), at::kInt);
    EXPECT_ALLEQUAL(out.cpu(), c.at("out.idx"));  // tie-sensitive cases too: MMCV's order
  }
  names = mmcv_test::cases_for_op("furthest_point_sample_with_dist");
  ASSERT_GE(names.size(), 2u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    const auto out = mmcv::ops::furthest_point_sample_with_dist(dev(c.at("in.points_dist")), c.param_int("num_points"));
    EXPECT_EQ(out.scalar_type(), at::kInt);
    EXPECT_ALLEQUAL(out.cpu(), c.at("out.idx"));
  }
}

TEST_P(furthest_point_sample_test, matches_simulated_cuda_kernel) {
  // Sizes around the thread-count steps, grids (exact ties), duplicates, more samples than points.
  for (int64_t N : {1, 2, 3, 7, 64, 100, 127, 300, 1024, 1500}) {
    SCOPED_TRACE(std::to_string(N));
    auto grid = at::randint(0, 3, {2, N, 3}, f64()).to(at::kFloat);  // heavy ties
    auto rnd = at::randn({2, N, 3}, f32());
    for (const auto& x : {grid, rnd}) {
      const int64_t m = std::min<int64_t>(N + 3, 40);
      EXPECT_ALLEQUAL(mmcv::ops::furthest_point_sample(x, m).cpu(), points_ref::fps<float>(x, m));
      const auto d = (x.unsqueeze(2) - x.unsqueeze(1)).pow(2).sum(3);
      EXPECT_ALLEQUAL(mmcv::ops::furthest_point_sample_with_dist(d, m).cpu(), points_ref::fps_with_dist<float>(d, m));
    }
    auto x64 = at::randn({1, N, 3}, f64());
    EXPECT_ALLEQUAL(mmcv::ops::furthest_point_sample(x64, 10).cpu(), points_ref::fps<double>(x64, 10));
  }
}

TEST_P(furthest_point_sample_test, nan_distances_never_win) {
  auto x = at::randn({1, 50, 3}, f32());
  x.narrow(1, 10, 3).fill_(NAN);
  EXPECT_ALLEQUAL(mmcv::ops::furthest_point_sample(x, 20).cpu(), points_ref::fps<float>(x, 20));
}

TEST_P(furthest_point_sample_test, empty_inputs_and_errors) {
  EXPECT_EQ(mmcv::ops::furthest_point_sample(at::zeros({0, 5, 3}, f32()), 3).sizes(), at::IntArrayRef({0, 3}));
  EXPECT_EQ(mmcv::ops::furthest_point_sample(at::zeros({2, 5, 3}, f32()), 0).sizes(), at::IntArrayRef({2, 0}));
  EXPECT_ALLEQUAL(mmcv::ops::furthest_point_sample(at::zeros({2, 5, 3}, f32()), 1).cpu(), at::zeros({2, 1}, at::kInt));
  using mmcv::ops::furthest_point_sample;
  using mmcv::ops::furthest_point_sample_with_dist;
  EXPECT_MMCV_ERROR(furthest_point_sample(at::zeros({2, 5, 2}, f32()), 2),
                    "furthest_point_sample: expected points_xyz to have shape [B, N, 3], but got [2, 5, 2]");
  EXPECT_MMCV_ERROR(furthest_point_sample(at::zeros({2, 5, 3}, f32()), -1),
                    "furthest_point_sample: expected num_points to be non-negative, but got -1");
  EXPECT_MMCV_ERROR(furthest_point_sample(at::zeros({2, 0, 3}, f32()), 2),
                    "furthest_point_sample: expected points_xyz to have at least one point per batch");
  EXPECT_MMCV_ERROR(furthest_point_sample(at::zeros({2, 5, 3}, at::kInt), 2),
                    "furthest_point_sample: expected points_xyz to have a floating-point dtype");
  EXPECT_MMCV_ERROR(furthest_point_sample_with_dist(at::zeros({2, 5, 4}, f32()), 2),
                    "furthest_point_sample_with_dist: expected points_dist to have shape [B, N, N], but got [2, 5, 4]");
}

MMCV_INSTANTIATE_DEVICES(furthest_point_sample_test);

}  // namespace
