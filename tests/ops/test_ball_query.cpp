// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/ball_query.hpp (mmcv.ops.ball_query, batch and stacked modes,
// MMCV's CUDA kernel semantics).

#include <mmcv/ops/ball_query.hpp>

#include "common/test_utils.hpp"
#include "ops/points_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class ball_query_test : public DeviceTest {};

TEST_P(ball_query_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("ball_query");
  ASSERT_GE(names.size(), 3u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    const auto out = mmcv::ops::ball_query(c.param_double("min_radius"), c.param_double("max_radius"),
                                           c.param_int("sample_num"), dev(c.at("in.xyz")), dev(c.at("in.center_xyz")));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), at::kInt);
    EXPECT_ALLEQUAL(out.cpu(), c.at("out.idx"));
  }
}

TEST_P(ball_query_test, matches_loop_reference) {
  for (auto dt : {at::kFloat, at::kDouble}) {
    auto xyz = at::rand({2, 400, 3}, f64()).to(dt);
    auto ctr = at::rand({2, 60, 3}, f64()).to(dt);
    ctr.narrow(1, 0, 10).copy_(xyz.narrow(1, 5, 10));  // d = 0: accepted even with min_radius > 0
    ctr.narrow(1, 10, 2).fill_(5.0);                    // no hit: all 0
    for (auto r : std::vector<std::pair<double, double>>{{0.0, 0.1}, {0.0, 0.3}, {0.15, 0.4}, {0.2, 0.21}}) {
      for (int64_t S : {1, 8, 64}) {
        SCOPED_TRACE(std::to_string(r.first) + " " + std::to_string(r.second) + " " + std::to_string(S));
        const auto out = mmcv::ops::ball_query(r.first, r.second, S, xyz, ctr);
        const auto ref = dt == at::kFloat ? points_ref::ball_query<float>(r.first, r.second, S, xyz, ctr)
                                          : points_ref::ball_query<double>(r.first, r.second, S, xyz, ctr);
        EXPECT_ALLEQUAL(out.cpu(), ref);
      }
    }
  }
}

TEST_P(ball_query_test, stacked_mode_matches_loop_reference) {
  const std::vector<int64_t> xcnt{100, 0, 57, 200}, ccnt{20, 5, 0, 31};
  auto xyz = at::rand({357, 3}, f32());
  auto ctr = at::rand({56, 3}, f32());
  ctr.narrow(0, 0, 1).fill_(9.0);  // no hit: -1 in slot 0
  const auto xc = at::tensor(xcnt, at::kInt).to(device()), cc = at::tensor(ccnt, at::kInt).to(device());
  for (int64_t S : {1, 16}) {
    const auto out = mmcv::ops::ball_query(0.1, 0.25, S, xyz, ctr, xc, cc);
    EXPECT_EQ(out.sizes(), at::IntArrayRef({56, S}));
    EXPECT_ALLEQUAL(out.cpu(), points_ref::ball_query_stack<float>(0.25, S, xyz, ctr, xcnt, ccnt));
    EXPECT_EQ(out[0][0].item<int>(), -1);
  }
}

TEST_P(ball_query_test, tiles_and_empty_inputs) {
  auto xyz = at::rand({1, 30000, 3}, f32());
  auto ctr = at::rand({1, 300, 3}, f32());
  const auto all = mmcv::ops::ball_query(0.0, 0.05, 8, xyz, ctr);
  for (int64_t p : {0, 150, 299}) EXPECT_ALLEQUAL(all.narrow(1, p, 1), mmcv::ops::ball_query(0.0, 0.05, 8, xyz, ctr.narrow(1, p, 1)));
  EXPECT_EQ(mmcv::ops::ball_query(0, 1, 4, at::zeros({2, 5, 3}, f32()), at::zeros({2, 0, 3}, f32())).sizes(),
            at::IntArrayRef({2, 0, 4}));
  EXPECT_ALLEQUAL(mmcv::ops::ball_query(0, 1, 4, at::zeros({1, 0, 3}, f32()), at::zeros({1, 2, 3}, f32())).cpu(),
                  at::zeros({1, 2, 4}, at::kInt));
  EXPECT_EQ(mmcv::ops::ball_query(0, 1, 0, xyz, ctr).sizes(), at::IntArrayRef({1, 300, 0}));
}

TEST_P(ball_query_test, bad_inputs_throw_named_errors) {
  auto x = at::rand({2, 10, 3}, f32()), c = at::rand({2, 4, 3}, f32());
  using mmcv::ops::ball_query;
  EXPECT_MMCV_ERROR(ball_query(0.5, 0.5, 4, x, c), "ball_query: expected min_radius to be less than max_radius");
  EXPECT_MMCV_ERROR(ball_query(0, NAN, 4, x, c), "ball_query: expected max_radius to be finite, but got nan");
  EXPECT_MMCV_ERROR(ball_query(0, 1, -1, x, c), "ball_query: expected sample_num to be non-negative, but got -1");
  EXPECT_MMCV_ERROR(ball_query(0, 1, 4, x, at::rand({3, 4, 3}, f32())),
                    "ball_query: expected center_xyz to have shape [B, npoint, 3] (with B = 2), but got [3, 4, 3]");
  EXPECT_MMCV_ERROR(ball_query(0, 1, 4, x, c.to(at::kDouble)), "ball_query: expected center_xyz to have the same dtype as xyz");
  const auto cnt = at::tensor({5, 5}, at::kInt).to(device());
  EXPECT_MMCV_ERROR(ball_query(0, 1, 4, x.view({20, 3}), c.view({8, 3}), cnt), "ball_query: expected center_xyz_batch_cnt to be given together");
  EXPECT_MMCV_ERROR(ball_query(0, 1, 4, x.view({20, 3}), c.view({8, 3}), cnt, at::tensor({4, 4}, at::kInt).to(device())),
                    "ball_query: expected xyz_batch_cnt to sum to xyz.size(0) (20), but got 10");
  EXPECT_MMCV_ERROR(ball_query(0, 1, 4, x.view({20, 3}), c.view({8, 3}), cnt, at::tensor({4, 4, 0}, at::kInt).to(device())),
                    "ball_query: expected xyz_batch_cnt to have 3 entries (the batch size), but got 2");
}

MMCV_INSTANTIATE_DEVICES(ball_query_test);

}  // namespace
