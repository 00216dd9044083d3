// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/assign_score_withk.hpp (mmcv.ops.assign_score_withk).

#include <mmcv/ops/assign_score_withk.hpp>

#include "common/test_utils.hpp"
#include "ops/points_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class assign_score_withk_test : public DeviceTest {};

TEST_P(assign_score_withk_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("assign_score_withk");
  ASSERT_GE(names.size(), 2u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    auto s = dev(c.at("in.scores")).requires_grad_(true);
    auto p = dev(c.at("in.point_features")).requires_grad_(true);
    auto ct = dev(c.at("in.center_features")).requires_grad_(true);
    const auto out = mmcv::ops::assign_score_withk(s, p, ct, dev(c.at("in.knn_idx")), c.param_string("aggregate"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    const auto g = mmcv_test::vjp(out, dev(c.at("grad_out.output")), {s, p, ct});
    EXPECT_ALLCLOSE(g[0], c.at("grad.scores"));
    EXPECT_ALLCLOSE(g[1], c.at("grad.point_features"));
    EXPECT_ALLCLOSE(g[2], c.at("grad.center_features"));
  }
}

TEST_P(assign_score_withk_test, loop_reference_aggregate_ignored_and_gradcheck) {
  auto s = at::randn({2, 5, 4, 3}, f64()), p = at::randn({2, 9, 3, 2}, f64()), c = at::randn({2, 9, 3, 2}, f64());
  auto k = at::randint(0, 9, {2, 5, 4}, f64()).to(at::kLong);
  k[0][1][2] = 9;   // out of range: output 0, no gradient
  k[1][3][1] = -1;
  const auto ref = points_ref::assign_score(s, p, c, k);
  for (const char* agg : {"sum", "avg", "max"}) EXPECT_ALLCLOSE(mmcv::ops::assign_score_withk(s, p, c, k, agg), ref);
  EXPECT_ALLCLOSE(mmcv::ops::assign_score_withk(s.to(at::kFloat), p.to(at::kFloat), c.to(at::kFloat), k.to(at::kInt)),
                  ref.to(at::kFloat));
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return mmcv::ops::assign_score_withk(in[0], in[1], in[2], k); },
      {s.clone().requires_grad_(true), p.clone().requires_grad_(true), c.clone().requires_grad_(true)}));
}

TEST_P(assign_score_withk_test, empty_inputs_and_errors) {
  auto s = at::randn({2, 0, 4, 3}, f32()), p = at::randn({2, 9, 3, 2}, f32());
  EXPECT_EQ(mmcv::ops::assign_score_withk(s, p, p, at::zeros({2, 0, 4}, at::kLong).to(device())).sizes(),
            at::IntArrayRef({2, 2, 0, 4}));
  auto s1 = at::randn({2, 5, 4, 3}, f32());
  auto k = at::zeros({2, 5, 4}, at::kLong).to(device());
  using mmcv::ops::assign_score_withk;
  EXPECT_MMCV_ERROR(assign_score_withk(s1, p, p, k, "mean"), "assign_score_withk: expected aggregate to be one of {\"sum\", \"avg\", \"max\"}, but got \"mean\"");
  EXPECT_MMCV_ERROR(assign_score_withk(s1, p.narrow(2, 0, 2), p, k), "assign_score_withk: expected point_features to have shape [B, N, M, O] (with B = 2, M = 3)");
  EXPECT_MMCV_ERROR(assign_score_withk(s1, p, p.to(at::kDouble), k), "assign_score_withk: expected center_features to have the same dtype as scores");
  EXPECT_MMCV_ERROR(assign_score_withk(s1, p, p, k - 1), "assign_score_withk: expected knn_idx[..., 0] (the centre) to be in [0, 8], but got -1");
}

MMCV_INSTANTIATE_DEVICES(assign_score_withk_test);

}  // namespace
