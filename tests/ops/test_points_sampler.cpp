// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/points_sampler.hpp (mmcv.ops.PointsSampler).

#include <mmcv/ops/points_sampler.hpp>

#include "common/test_utils.hpp"
#include "ops/points_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class points_sampler_test : public DeviceTest {};

TEST_P(points_sampler_test, modes_and_ranges) {
  auto xyz = at::rand({2, 120, 3}, f32());
  auto feats = at::randn({2, 4, 120}, f32());
  // D-FPS on everything = furthest_point_sample
  EXPECT_ALLEQUAL(mmcv::ops::PointsSampler({16}).forward(xyz, feats).cpu(), points_ref::fps<float>(xyz, 16));
  // F-FPS: FPS on squared feature distances of [xyz, features^T]
  const auto ff = at::cat({xyz, feats.transpose(1, 2)}, 2);
  const auto fd = at::cdist(ff, ff).square();
  EXPECT_ALLEQUAL(mmcv::ops::PointsSampler({10}, {"F-FPS"}).forward(xyz, feats).cpu(), points_ref::fps_with_dist<float>(fd, 10));
  // FS: F-FPS then D-FPS
  const auto fs = mmcv::ops::PointsSampler({5}, {"FS"})(xyz, feats).cpu();
  EXPECT_ALLEQUAL(fs, at::cat({points_ref::fps_with_dist<float>(fd, 5), points_ref::fps<float>(xyz, 5)}, 1));
  // Two ranges: [0, 50) with D-FPS, then [50, N) offset by 50
  const auto two = mmcv::ops::PointsSampler({8, 6}, {"D-FPS", "D-FPS"}, {50, -1})(xyz, feats).cpu();
  EXPECT_ALLEQUAL(two.narrow(1, 0, 8), points_ref::fps<float>(xyz.narrow(1, 0, 50), 8));
  EXPECT_ALLEQUAL(two.narrow(1, 8, 6), points_ref::fps<float>(xyz.narrow(1, 50, 70).contiguous(), 6) + 50);
  EXPECT_EQ(two.scalar_type(), at::kInt);
  // float16 computed in float32
  EXPECT_ALLEQUAL(mmcv::ops::PointsSampler({7})(xyz.to(at::kHalf)).cpu(), points_ref::fps<float>(xyz.to(at::kHalf).to(at::kFloat), 7));
}

TEST_P(points_sampler_test, bad_configs_throw_named_errors) {
  auto xyz = at::rand({1, 20, 3}, f32());
  EXPECT_MMCV_ERROR(mmcv::ops::PointsSampler({4}, {"X"}), "PointsSampler: expected fps_mod_list to be one of {\"D-FPS\", \"F-FPS\", \"FS\"}, but got \"X\"");
  EXPECT_MMCV_ERROR(mmcv::ops::PointsSampler({4, 4}), "PointsSampler: expected fps_mod_list to have one entry per num_point entry (2), but got 1");
  EXPECT_MMCV_ERROR(mmcv::ops::PointsSampler({4}, {"F-FPS"})(xyz), "PointsSampler: expected features to be given for F-FPS sampling");
  EXPECT_MMCV_ERROR(mmcv::ops::PointsSampler({4}, {"D-FPS"}, {20})(xyz), "PointsSampler: expected fps_sample_range_list to be less than the number of points (20), but got 20");
}

MMCV_INSTANTIATE_DEVICES(points_sampler_test);

}  // namespace
