// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/three_interpolate.hpp (mmcv.ops.three_interpolate).

#include <mmcv/ops/three_interpolate.hpp>

#include "common/test_utils.hpp"

namespace {

using mmcv_test::DeviceTest;

// float64 loop: out[b, c, n] = sum_j w[b, n, j] * f[b, c, idx[b, n, j]]
at::Tensor loop_interp(const at::Tensor& f_, const at::Tensor& i_, const at::Tensor& w_) {
  auto f = f_.to(at::kCPU, at::kDouble), w = w_.to(at::kCPU, at::kDouble);
  auto i = i_.to(at::kCPU, at::kLong);
  const int64_t B = f.size(0), C = f.size(1), n = i.size(1);
  auto out = at::zeros({B, C, n}, at::kDouble);
  auto fo = f.accessor<double, 3>();
  auto wo = w.accessor<double, 3>();
  auto io = i.accessor<int64_t, 3>();
  auto oo = out.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < n; ++p)
        for (int j = 0; j < 3; ++j) oo[b][c][p] += wo[b][p][j] * fo[b][c][io[b][p][j]];
  return out;
}

class three_interpolate_test : public DeviceTest {};

TEST_P(three_interpolate_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("three_interpolate");
  ASSERT_GE(names.size(), 2u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto c = mmcv_test::load_case(name);
    auto f = dev(c.at("in.features")).requires_grad_(true);
    auto w = dev(c.at("in.weight")).requires_grad_(true);
    const auto out = mmcv::ops::three_interpolate(f, dev(c.at("in.indices")), w);
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    const auto g = mmcv_test::vjp(out, dev(c.at("grad_out.output")), {f, w});
    EXPECT_ALLCLOSE(g[0], c.at("grad.features"));
    EXPECT_FALSE(g[1].defined() && g[1].abs().sum().item<double>() != 0);  // MMCV: no weight gradient
  }
}

TEST_P(three_interpolate_test, loop_reference_and_gradcheck) {
  auto f = at::randn({2, 5, 20}, f64());
  auto idx = at::randint(0, 20, {2, 30, 3}, f64()).to(at::kInt);
  idx.narrow(1, 0, 4).fill_(7);  // repeated indices accumulate in the backward
  auto w = at::rand({2, 30, 3}, f64());
  EXPECT_ALLCLOSE(mmcv::ops::three_interpolate(f, idx, w), loop_interp(f, idx, w));
  EXPECT_ALLCLOSE(mmcv::ops::three_interpolate(f.to(at::kFloat), idx, w.to(at::kFloat)), loop_interp(f, idx, w).to(at::kFloat));
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return mmcv::ops::three_interpolate(in[0], idx, w); },
      {f.clone().requires_grad_(true)}));
}

TEST_P(three_interpolate_test, empty_inputs_and_errors) {
  EXPECT_EQ(mmcv::ops::three_interpolate(at::zeros({2, 3, 4}, f32()), at::zeros({2, 0, 3}, at::kInt).to(device()),
                                         at::zeros({2, 0, 3}, f32()))
                .sizes(),
            at::IntArrayRef({2, 3, 0}));
  auto f = at::randn({2, 3, 4}, f32());
  auto i = at::zeros({2, 5, 3}, at::kInt).to(device());
  auto w = at::rand({2, 5, 3}, f32());
  using mmcv::ops::three_interpolate;
  EXPECT_MMCV_ERROR(three_interpolate(f, i.narrow(2, 0, 2), w), "three_interpolate: expected indices to have shape [B, n, 3]");
  EXPECT_MMCV_ERROR(three_interpolate(f, i, w.to(at::kDouble)), "three_interpolate: expected weight to have the same dtype as features");
  EXPECT_MMCV_ERROR(three_interpolate(f, i.to(at::kFloat), w), "three_interpolate: expected indices to have an integer dtype");
  EXPECT_MMCV_ERROR(three_interpolate(f, i + 4, w), "three_interpolate: expected indices to be in [0, 3], but got 4");
}

MMCV_INSTANTIATE_DEVICES(three_interpolate_test);

}  // namespace
