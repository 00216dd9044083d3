// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/group_points.hpp (mmcv.ops.grouping_operation, batch and stacked
// modes) and group_points_module.hpp (QueryAndGroup, GroupAll).

#include <mmcv/ops/group_points.hpp>
#include <mmcv/ops/group_points_module.hpp>

#include "common/test_utils.hpp"

namespace {

using mmcv_test::DeviceTest;

class group_points_test : public DeviceTest {};

TEST_P(group_points_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("grouping_operation");
  ASSERT_GE(names.size(), 2u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    auto f = dev(c.at("in.features")).requires_grad_(true);
    const auto out = mmcv::ops::grouping_operation(f, dev(c.at("in.indices")));
    EXPECT_EQ(out.device(), device());
    EXPECT_ALLEQUAL(out.detach().cpu(), c.at("out.output"));
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, dev(c.at("grad_out.output")), {f})[0], c.at("grad.features"));
  }
}

TEST_P(group_points_test, batch_mode_loop_reference_and_gradcheck) {
  auto f = at::randn({2, 3, 12}, f64());
  auto idx = at::randint(0, 12, {2, 5, 4}, f64()).to(at::kInt);
  const auto out = mmcv::ops::grouping_operation(f, idx).cpu();
  auto fc = f.cpu();
  auto ic = idx.cpu();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t p = 0; p < 5; ++p)
        for (int64_t s = 0; s < 4; ++s)
          EXPECT_EQ(out[b][c][p][s].item<double>(), fc[b][c][ic[b][p][s].item<int>()].item<double>());
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return mmcv::ops::grouping_operation(in[0], idx); },
      {f.clone().requires_grad_(true)}));
}

TEST_P(group_points_test, stacked_mode_loop_reference_and_gradcheck) {
  const std::vector<int64_t> fcnt{6, 0, 9}, icnt{3, 2, 4};
  auto f = at::randn({15, 3}, f64());
  auto idx = at::randint(0, 6, {9, 4}, f64()).to(at::kInt);
  idx[0][1] = -1;  // stacked ball_query's "no neighbour": 0, no gradient
  idx[3][0] = 0;   // batch 1 has no features: every index is out of range there
  const auto fc_t = at::tensor(fcnt, at::kInt).to(device()), ic_t = at::tensor(icnt, at::kInt).to(device());
  const auto out = mmcv::ops::grouping_operation(f, idx, fc_t, ic_t).cpu();
  ASSERT_EQ(out.sizes(), at::IntArrayRef({9, 3, 4}));
  auto fc = f.cpu();
  auto ic = idx.cpu();
  const int64_t batch_of[9] = {0, 0, 0, 1, 1, 2, 2, 2, 2}, start[3] = {0, 6, 6};
  for (int64_t m = 0; m < 9; ++m)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t s = 0; s < 4; ++s) {
        const int64_t i = ic[m][s].item<int>(), b = batch_of[m];
        const double want = (i >= 0 && i < fcnt[b]) ? fc[start[b] + i][c].item<double>() : 0.0;
        EXPECT_EQ(out[m][c][s].item<double>(), want) << m << " " << c << " " << s;
      }
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return mmcv::ops::grouping_operation(in[0], idx, fc_t, ic_t); },
      {f.clone().requires_grad_(true)}));
}

TEST_P(group_points_test, empty_inputs_and_errors) {
  EXPECT_EQ(mmcv::ops::grouping_operation(at::zeros({2, 3, 4}, f32()), at::zeros({2, 0, 5}, at::kInt).to(device())).sizes(),
            at::IntArrayRef({2, 3, 0, 5}));
  auto f = at::randn({2, 3, 4}, f32());
  auto i = at::zeros({2, 2, 2}, at::kInt).to(device());
  using mmcv::ops::grouping_operation;
  EXPECT_MMCV_ERROR(grouping_operation(f, i + 9), "grouping_operation: expected indices to be in [0, 3], but got 9");
  EXPECT_MMCV_ERROR(grouping_operation(f, i[0]), "grouping_operation: expected indices to have shape [B, npoint, nsample]");
  const auto cnt = at::tensor({2, 2}, at::kInt).to(device());
  EXPECT_MMCV_ERROR(grouping_operation(f[0].t(), i[0], cnt), "grouping_operation: expected indices_batch_cnt to be given together");
  EXPECT_MMCV_ERROR(grouping_operation(f[0].t(), i[0], at::tensor({1, 2}, at::kInt).to(device()), at::tensor({1, 1}, at::kInt).to(device())),
                    "grouping_operation: expected features_batch_cnt to sum to features.size(0) (4), but got 3");
}

TEST_P(group_points_test, query_and_group_and_group_all) {
  auto xyz = at::rand({2, 64, 3}, f32());
  auto ctr = xyz.narrow(1, 0, 8).contiguous();
  auto feats = at::randn({2, 5, 64}, f32());
  mmcv::ops::QueryAndGroup qg(0.4, 6, 0.0, true, true, false, false, false, true);
  const auto r = qg(xyz, ctr, feats);
  ASSERT_EQ(r.size(), 3u);  // new_features, grouped_xyz, idx
  const auto idx = mmcv::ops::ball_query(0.0, 0.4, 6, xyz, ctr);
  EXPECT_ALLEQUAL(r[2], idx);
  const auto gx = mmcv::ops::grouping_operation(xyz.transpose(1, 2).contiguous(), idx);
  EXPECT_ALLEQUAL(r[1], gx);
  EXPECT_ALLEQUAL(r[0], at::cat({gx - ctr.transpose(1, 2).unsqueeze(-1), mmcv::ops::grouping_operation(feats, idx)}, 1));
  // kNN grouping (max_radius None), normalize, no features
  mmcv::ops::QueryAndGroup knn_g(std::nullopt, 4);
  const auto k = knn_g(xyz, ctr);
  ASSERT_EQ(k.size(), 1u);
  EXPECT_EQ(k[0].sizes(), at::IntArrayRef({2, 3, 8, 4}));
  mmcv::ops::QueryAndGroup norm_g(0.5, 4, 0.0, true, false, true);
  EXPECT_ALLCLOSE(norm_g(xyz, ctr)[0], mmcv::ops::QueryAndGroup(0.5, 4)(xyz, ctr)[0] / 0.5);
  // uniform_sample: unique indices first (sorted), the rest drawn from them; count returned
  mmcv::ops::QueryAndGroup uni(0.3, 16, 0.0, true, false, false, true, true, true);
  const auto u = uni(xyz, ctr, feats);
  ASSERT_EQ(u.size(), 3u);
  const auto base = mmcv::ops::ball_query(0.0, 0.3, 16, xyz, ctr).cpu();
  const auto ui = u[2].cpu();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t p = 0; p < 8; ++p) {
      const auto uq = std::get<0>(at::_unique(base[b][p]));
      const int64_t n = uq.size(0);
      EXPECT_EQ(u[1][b][p].item<float>(), static_cast<float>(n));
      EXPECT_ALLEQUAL(ui[b][p].narrow(0, 0, n), std::get<0>(uq.sort()));
      EXPECT_TRUE(at::isin(ui[b][p], uq).all().item<bool>());
    }
  EXPECT_THROW(mmcv::ops::QueryAndGroup(std::nullopt, 4, 0, true, false, true), c10::Error);
  EXPECT_THROW(mmcv::ops::QueryAndGroup(0.2, 4, 0, true, false, false, false, true), c10::Error);
  // GroupAll
  mmcv::ops::GroupAll ga;
  EXPECT_ALLEQUAL(ga(xyz, ctr, feats), at::cat({xyz.transpose(1, 2).unsqueeze(2), feats.unsqueeze(2)}, 1));
  EXPECT_ALLEQUAL(mmcv::ops::GroupAll(false)(xyz, ctr, feats), feats.unsqueeze(2));
  EXPECT_ALLEQUAL(ga(xyz), xyz.transpose(1, 2).unsqueeze(2));
}

MMCV_INSTANTIATE_DEVICES(group_points_test);

}  // namespace
