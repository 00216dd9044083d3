// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/detail/bilinear.hpp: both MMCV boundary rules against scalar loops
// written from MMCV's kernels (bilinear_interpolate and dmcn_im2col_bilinear).

#include <mmcv/ops/detail/bilinear.hpp>

#include <cmath>

#include "common/test_utils.hpp"

namespace {

using mmcv::ops::detail::BilinearRule;
using mmcv_test::DeviceTest;

double roi_rule(const at::TensorAccessor<double, 2>& v, int64_t H, int64_t W, double y, double x) {
  if (y < -1.0 || y > H || x < -1.0 || x > W) return 0;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(x), yh, xh;
  if (yl >= H - 1) { yh = yl = H - 1; y = static_cast<double>(yl); } else { yh = yl + 1; }
  if (xl >= W - 1) { xh = xl = W - 1; x = static_cast<double>(xl); } else { xh = xl + 1; }
  const double ly = y - yl, lx = x - xl, hy = 1 - ly, hx = 1 - lx;
  return hy * hx * v[yl][xl] + hy * lx * v[yl][xh] + ly * hx * v[yh][xl] + ly * lx * v[yh][xh];
}

double dcn_rule(const at::TensorAccessor<double, 2>& v, int64_t H, int64_t W, double y, double x) {
  if (!(y > -1 && x > -1 && y < H && x < W)) return 0;
  const int64_t yl = static_cast<int64_t>(std::floor(y)), xl = static_cast<int64_t>(std::floor(x));
  const int64_t yh = yl + 1, xh = xl + 1;
  const double ly = y - yl, lx = x - xl, hy = 1 - ly, hx = 1 - lx;
  const double v1 = (yl >= 0 && xl >= 0) ? v[yl][xl] : 0, v2 = (yl >= 0 && xh <= W - 1) ? v[yl][xh] : 0;
  const double v3 = (yh <= H - 1 && xl >= 0) ? v[yh][xl] : 0, v4 = (yh <= H - 1 && xh <= W - 1) ? v[yh][xh] : 0;
  return hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4;
}

class bilinear_test : public DeviceTest {};

TEST_P(bilinear_test, both_rules_match_mmcv_scalar_loops) {
  const int64_t B = 2, C = 3, H = 5, W = 7, P = 4, S = 60;
  auto input = at::randn({B, C, H, W}, f64());
  // Points spread over [-2, H+1] x [-2, W+1], plus exact boundary values.
  auto y = at::rand({P, S}, f64()) * (H + 3) - 2;
  auto x = at::rand({P, S}, f64()) * (W + 3) - 2;
  auto edges = at::tensor({-1.0, 0.0, double(H - 1), double(H), -1.0, 0.5}, f64());
  y.slice(1, 0, 6).copy_(edges.expand({P, 6}));
  x.slice(1, 0, 6).copy_(at::tensor({-1.0, double(W), 0.0, double(W - 1), 3.5, -1.0}, f64()).expand({P, 6}));
  auto bidx = at::tensor({1, 0, 1, 1}, at::TensorOptions().dtype(at::kLong).device(device()));
  for (auto rule : {BilinearRule::kRoi, BilinearRule::kDcn}) {
    auto out = mmcv::ops::detail::bilinear_sample(input, bidx, y, x, rule);  // [P, S, C]
    ASSERT_EQ(out.sizes(), at::IntArrayRef({P, S, C}));
    auto in_c = input.cpu();
    auto yc = y.cpu(), xc = x.cpu(), bc = bidx.cpu();
    auto ref = at::zeros({P, S, C}, at::kDouble);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t c = 0; c < C; ++c) {
        auto plane = in_c[bc[p].item<int64_t>()][c];
        auto acc = plane.accessor<double, 2>();
        for (int64_t s = 0; s < S; ++s) {
          const double yy = yc[p][s].item<double>(), xx = xc[p][s].item<double>();
          ref[p][s][c] = rule == BilinearRule::kRoi ? roi_rule(acc, H, W, yy, xx) : dcn_rule(acc, H, W, yy, xx);
        }
      }
    EXPECT_ALLCLOSE(out, ref) << (rule == BilinearRule::kRoi ? "roi rule" : "dcn rule");
  }
}

TEST_P(bilinear_test, dcn_rule_gradients_match_finite_differences) {
  auto input = at::randn({1, 2, 4, 5}, f64()).requires_grad_();
  // keep points away from integer coordinates, where the sampler is not differentiable
  auto y = (at::rand({2, 6}, f64()) * 5.6 - 1.3).requires_grad_();
  auto x = (at::rand({2, 6}, f64()) * 6.6 - 1.3).requires_grad_();
  auto bidx = at::zeros({2}, at::TensorOptions().dtype(at::kLong).device(device()));
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& v) {
        return mmcv::ops::detail::bilinear_sample(v[0], bidx, v[1], v[2], BilinearRule::kDcn);
      },
      {input, y, x}));
}

MMCV_INSTANTIATE_DEVICES(bilinear_test);

}  // namespace
