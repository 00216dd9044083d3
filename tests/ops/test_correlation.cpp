// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/correlation.hpp (mmcv.ops.Correlation's function) and
// correlation_module.hpp (mmcv.ops.Correlation).

#include <mmcv/ops/correlation.hpp>
#include <mmcv/ops/correlation_module.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/conv_like_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class correlation_test : public DeviceTest {};

TEST_P(correlation_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("correlation");
  ASSERT_EQ(names.size(), 5u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto a = dev(c.at("in.input1")).requires_grad_(true);
    auto b = dev(c.at("in.input2")).requires_grad_(true);
    auto out = mmcv::ops::correlation(a, b, c.param_ints("kernel_size"), c.param_ints("max_displacement"),
                                      c.param_ints("stride"), c.param_ints("padding"), c.param_ints("dilation"),
                                      c.param_ints("dilation_patch"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    // MMCV reduces float64 through float32 (warp shuffles): float32-level tolerance for that case
    // (relative to max|out|, per the manifest); its backward kernels are exact.
    const bool f64case = a.scalar_type() == at::kDouble;
    const double scale = c.at("out.output").abs().max().item<double>();
    const mmcv_test::Tol tol = f64case ? mmcv_test::Tol{0.0, 1e-6 * scale} : mmcv_test::tol_for(a);
    EXPECT_ALLCLOSE(out, c.at("out.output"), tol);
    auto grads = mmcv_test::vjp(out, dev(c.at("grad_out.output")), {a, b});
    EXPECT_ALLCLOSE(grads[0], c.at("grad.input1"));
    EXPECT_ALLCLOSE(grads[1], c.at("grad.input2"));
  }
}

TEST_P(correlation_test, matches_loop_reference) {
  struct Case {
    int64_t N, C, H, W, k, md, st, pad, dil, dp;
  };
  for (auto p : std::vector<Case>{{2, 3, 6, 7, 1, 2, 1, 0, 1, 1}, {1, 4, 7, 5, 3, 1, 2, 1, 1, 2},
                                  {1, 2, 8, 8, 3, 2, 1, 2, 2, 1}, {2, 2, 3, 4, 1, 0, 1, 0, 1, 1},
                                  {1, 3, 5, 6, 2, 1, 3, 0, 1, 3}, {1, 2, 2, 2, 1, 3, 1, 1, 1, 2}}) {
    SCOPED_TRACE("k=" + std::to_string(p.k) + " md=" + std::to_string(p.md) + " st=" + std::to_string(p.st) +
                 " pad=" + std::to_string(p.pad) + " dil=" + std::to_string(p.dil) + " dp=" + std::to_string(p.dp));
    auto a = at::randn({p.N, p.C, p.H, p.W}, f64()).requires_grad_(true);
    auto b = at::randn({p.N, p.C, p.H, p.W}, f64()).requires_grad_(true);
    auto out = mmcv::ops::correlation(a, b, p.k, p.md, p.st, p.pad, p.dil, p.dp);
    auto ref = conv_ref::correlation(a.detach(), b.detach(), p.k, p.md, p.st, p.pad, p.dil, p.dp);
    EXPECT_ALLCLOSE(out, ref);
    auto go = at::randn(out.sizes(), f64());
    auto grads = mmcv_test::vjp(out, go, {a, b});
    auto rg = conv_ref::correlation_backward(go, a.detach(), b.detach(), p.k, p.md, p.st, p.pad, p.dil, p.dp);
    EXPECT_ALLCLOSE(grads[0], rg.first);
    EXPECT_ALLCLOSE(grads[1], rg.second);
    auto out32 = mmcv::ops::correlation(a.detach().to(at::kFloat), b.detach().to(at::kFloat), p.k, p.md, p.st, p.pad,
                                        p.dil, p.dp);
    EXPECT_ALLCLOSE(out32, ref.to(at::kFloat));
  }
  // Per-axis pairs.
  auto a = at::randn({1, 2, 6, 7}, f64()), b = at::randn({1, 2, 6, 7}, f64());
  auto out = mmcv::ops::correlation(a, b, {1, 3}, {2, 1}, {1, 2}, {0, 1}, {1, 1}, {1, 2});
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 5, 3, 6, 4}));
}

TEST_P(correlation_test, gradients_match_finite_differences) {
  auto a = at::randn({1, 2, 5, 4}, f64()).requires_grad_(true);
  auto b = at::randn({1, 2, 5, 4}, f64()).requires_grad_(true);
  EXPECT_TRUE(mmcv_test::gradcheck(
      [](const std::vector<at::Tensor>& x) { return mmcv::ops::correlation(x[0], x[1], 3, 1, 2, 1, 1, 2); }, {a, b}));
}

TEST_P(correlation_test, empty_inputs) {
  auto out = mmcv::ops::correlation(at::zeros({0, 3, 4, 4}, f32()), at::zeros({0, 3, 4, 4}, f32()), 1, 2);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 5, 5, 4, 4}));
  // Zero channels: a zero volume.
  out = mmcv::ops::correlation(at::zeros({1, 0, 4, 4}, f32()), at::zeros({1, 0, 4, 4}, f32()), 1, 1);
  EXPECT_ALLCLOSE(out, at::zeros({1, 3, 3, 4, 4}, f32()));
  // Window larger than the padded map: an empty volume.
  out = mmcv::ops::correlation(at::zeros({1, 2, 2, 2}, f64()), at::zeros({1, 2, 2, 2}, f64()), 5, 1);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, 3, 0, 0}));
}

TEST_P(correlation_test, errors_name_op_and_argument) {
  auto a = at::randn({1, 2, 5, 4}, f32());
  EXPECT_MMCV_ERROR(mmcv::ops::correlation(a, a.narrow(2, 0, 3)), "correlation: expected input2 to have shape [N, C, H, W] (with N = 1, C = 2, H = 5, W = 4), but got [1, 2, 3, 4]");
  EXPECT_MMCV_ERROR(mmcv::ops::correlation(a, a.to(at::kDouble)), "correlation: expected input2 to have the same dtype as input1 (Float), but got Double");
  EXPECT_MMCV_ERROR(mmcv::ops::correlation(a, a, 0), "correlation: expected kernel_size to be positive, but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::correlation(a, a, 1, -1), "correlation: expected max_displacement to be non-negative, but got -1");
  EXPECT_MMCV_ERROR(mmcv::ops::correlation(a, a, 1, 1, 0), "correlation: expected stride to be positive, but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::correlation(a, a, 1, 1, 1, 0, 1, {1, 2, 3}), "correlation: expected dilation_patch to be an int or a pair of ints, but got 3 values");
  EXPECT_MMCV_ERROR(mmcv::ops::correlation(a.to(at::kInt), a.to(at::kInt)), "correlation: expected input1 to have a floating-point dtype");
}

TEST_P(correlation_test, module_matches_function) {
  mmcv::ops::Correlation corr(3, 2, 1, 1, 1, 2);
  auto a = at::randn({2, 3, 6, 5}, f32()), b = at::randn({2, 3, 6, 5}, f32());
  EXPECT_ALLCLOSE(corr(a, b), mmcv::ops::correlation(a, b, 3, 2, 1, 1, 1, 2));
  mmcv::ops::Correlation dflt;
  EXPECT_ALLCLOSE(dflt(a, b), mmcv::ops::correlation(a, b));
  std::ostringstream os;
  os << *dflt;
  EXPECT_EQ(os.str(), "mmcv::ops::Correlation(kernel_size=(1, 1), max_displacement=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), dilation_patch=(1, 1))");
}

MMCV_INSTANTIATE_DEVICES(correlation_test);

}  // namespace
