// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/three_nn.hpp (mmcv.ops.three_nn, MMCV's CUDA kernel semantics).

#include <mmcv/ops/three_nn.hpp>

#include <cmath>

#include "common/test_utils.hpp"
#include "ops/points_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class three_nn_test : public DeviceTest {};

TEST_P(three_nn_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("three_nn");
  ASSERT_GE(names.size(), 3u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    at::Tensor dist, idx;
    std::tie(dist, idx) = mmcv::ops::three_nn(dev(c.at("in.target")), dev(c.at("in.source")));
    EXPECT_EQ(dist.device(), device());
    EXPECT_EQ(idx.scalar_type(), at::kInt);
    EXPECT_EQ(dist.scalar_type(), c.at("out.dist").scalar_type());
    EXPECT_ALLEQUAL(idx.cpu(), c.at("out.idx"));
    EXPECT_ALLCLOSE(dist, c.at("out.dist"));
  }
}

TEST_P(three_nn_test, matches_loop_reference_with_ties_and_few_sources) {
  for (auto dt : {at::kFloat, at::kDouble}) {
    for (int64_t M : {1, 2, 3, 50}) {
      SCOPED_TRACE(std::to_string(M));
      auto tgt = at::randn({2, 80, 3}, f64()).to(dt);
      auto src = at::randn({2, M, 3}, f64()).to(dt);
      if (M == 50) {
        src.narrow(1, 25, 25).copy_(src.narrow(1, 0, 25));  // exact ties: earliest index first
        tgt.narrow(1, 0, 5).copy_(src.narrow(1, 0, 5));
      }
      at::Tensor d, i;
      std::tie(d, i) = mmcv::ops::three_nn(tgt, src);
      auto ref = dt == at::kFloat ? points_ref::three_nn<float>(tgt, src) : points_ref::three_nn<double>(tgt, src);
      EXPECT_ALLEQUAL(i.cpu(), ref.second);
      EXPECT_ALLCLOSE(d, ref.first);
      if (M < 3) {  // unused slots: index 0, sqrt(T(1e40))
        EXPECT_EQ(d[0][0][2].item<double>(), dt == at::kFloat ? INFINITY : 1e20);
      }
    }
  }
}

TEST_P(three_nn_test, tiles_equal_single_calls) {
  auto tgt = at::rand({1, 900, 3}, f32());
  auto src = at::rand({1, 9000, 3}, f32());
  const auto all = mmcv::ops::three_nn(tgt, src);
  for (int64_t n : {0, 517, 899}) {
    const auto one = mmcv::ops::three_nn(tgt.narrow(1, n, 1), src);
    EXPECT_ALLEQUAL(std::get<1>(all).narrow(1, n, 1), std::get<1>(one));
    EXPECT_ALLEQUAL(std::get<0>(all).narrow(1, n, 1), std::get<0>(one));
  }
}

TEST_P(three_nn_test, empty_inputs_and_errors) {
  auto r = mmcv::ops::three_nn(at::zeros({2, 0, 3}, f32()), at::zeros({2, 4, 3}, f32()));
  EXPECT_EQ(std::get<0>(r).sizes(), at::IntArrayRef({2, 0, 3}));
  r = mmcv::ops::three_nn(at::zeros({1, 2, 3}, f32()), at::zeros({1, 0, 3}, f32()));
  EXPECT_ALLEQUAL(std::get<1>(r).cpu(), at::zeros({1, 2, 3}, at::kInt));
  using mmcv::ops::three_nn;
  auto t = at::randn({2, 5, 3}, f32());
  EXPECT_MMCV_ERROR(three_nn(t[0], t), "three_nn: expected target to be a 3-D tensor");
  EXPECT_MMCV_ERROR(three_nn(t, at::randn({2, 5, 2}, f32())), "three_nn: expected source to have shape [B, N, 3]");
  EXPECT_MMCV_ERROR(three_nn(t, t.to(at::kDouble)), "three_nn: expected source to have the same dtype as target");
  EXPECT_MMCV_ERROR(three_nn(t, at::randn({1, 5, 3}, f32())), "three_nn: expected source to have the batch size of target (2)");
}

MMCV_INSTANTIATE_DEVICES(three_nn_test);

}  // namespace
