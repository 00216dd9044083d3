// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/roi_pool.hpp (mmcv.ops.roi_pool, MMCV's CUDA semantics) and
// roi_pool_module.hpp (mmcv.ops.RoIPool).

#include <mmcv/ops/roi_pool.hpp>
#include <mmcv/ops/roi_pool_module.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/roi_reference.hpp"

namespace {

using mmcv_test::DeviceTest;
using roi_ref::pool_backward;
using roi_ref::pool_forward;

at::Tensor random_rois(int64_t K, int64_t B, int64_t H, int64_t W, double scale, at::TensorOptions opt) {
  const double iw = W / scale, ih = H / scale;
  auto x1 = at::rand({K}, at::kDouble) * (iw * 1.4) - 0.2 * iw;
  auto y1 = at::rand({K}, at::kDouble) * (ih * 1.4) - 0.2 * ih;
  auto w = at::rand({K}, at::kDouble).pow(2) * iw * 1.1;
  auto h = at::rand({K}, at::kDouble).pow(2) * ih * 1.1;
  w.narrow(0, 0, 2).fill_(-1.0);     // w == 0 after the +1: degenerate
  h.narrow(0, 2, 1).fill_(-3.0);     // h < 0: degenerate
  w.narrow(0, 3, 2).fill_(0.0);      // one pixel wide
  auto b = at::randint(B, {K}, at::kLong).to(at::kDouble);
  return at::stack({b, x1, y1, x1 + w, y1 + h}, 1).to(opt);
}

class roi_pool_test : public DeviceTest {};

TEST_P(roi_pool_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("roi_pool");
  ASSERT_EQ(names.size(), 3u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto input = dev(c.at("in.input")).requires_grad_(true);
    auto out = mmcv::ops::roi_pool(input, dev(c.at("in.rois")), c.param_ints("output_size"), c.param_double("spatial_scale"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, dev(c.at("grad_out.output")), {input})[0], c.at("grad.input"));
  }
}

TEST_P(roi_pool_test, matches_loop_reference) {
  const int64_t B = 2, C = 3, H = 9, W = 11;
  for (double scale : {0.5, 1.0, 0.3}) {
    auto input = at::randn({B, C, H, W}, f64());
    auto rois = random_rois(20, B, H, W, scale, f64());
    for (auto os : std::vector<std::vector<int64_t>>{{3, 4}, {1, 1}, {7, 7}}) {
      SCOPED_TRACE("scale=" + std::to_string(scale) + " out=" + std::to_string(os[0]) + "x" + std::to_string(os[1]));
      auto x = input.clone().requires_grad_(true);
      auto out = mmcv::ops::roi_pool(x, rois, os, scale);
      auto ref = pool_forward<double>(input, rois, os[0], os[1], scale);
      EXPECT_ALLCLOSE(out, ref.out);
      auto go = at::randn(out.sizes(), f64());
      EXPECT_ALLCLOSE(mmcv_test::vjp(out, go, {x})[0], pool_backward(go, rois, ref, input.sizes()));
      // float32: bin edges in float32 arithmetic, as MMCV's kernel with T = float
      auto x32 = input.to(at::kFloat).requires_grad_(true);
      auto r32 = rois.to(at::kFloat);
      auto out32 = mmcv::ops::roi_pool(x32, r32, os, scale);
      auto ref32 = pool_forward<float>(input.to(at::kFloat), r32, os[0], os[1], scale);
      EXPECT_ALLCLOSE(out32, ref32.out.to(at::kFloat));
      auto go32 = go.to(at::kFloat);
      EXPECT_ALLCLOSE(mmcv_test::vjp(out32, go32, {x32})[0], pool_backward(go32, r32, ref32, input.sizes()).to(at::kFloat));
    }
  }
}

TEST_P(roi_pool_test, gradients_match_finite_differences) {
  auto input = at::randn({2, 2, 6, 7}, f64()).requires_grad_(true);
  auto rois = at::tensor({0., 1.2, 0.7, 9.1, 8.3, 1., -2.0, 3.1, 5.4, 13.9, 1., 10.5, 9.5, 14.0, 12.6}, f64()).view({3, 5});
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return mmcv::ops::roi_pool(in[0], rois, {3, 2}, 0.5); }, {input}));
}

TEST_P(roi_pool_test, ties_nan_floor_and_degenerate_rois) {
  // Constant map: the first pixel of each bin in row-major order takes the gradient.
  {
    auto input = at::full({1, 1, 6, 6}, 2.0, f64());
    auto x = input.clone().requires_grad_(true);
    auto rois = at::tensor({0., 0.3, 0.6, 4.7, 5.2}, f64()).view({1, 5});
    auto out = mmcv::ops::roi_pool(x, rois, 2, 1.0);
    auto go = at::randn(out.sizes(), f64());
    auto ref = pool_forward<double>(input, rois, 2, 2, 1.0);
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, go, {x})[0], pool_backward(go, rois, ref, input.sizes()));
  }
  // NaN pixels are skipped (MMCV's `>` never picks them); an all-NaN or all -inf bin gives
  // -FLT_MAX and no gradient; double values below -FLT_MAX are floored to it.
  {
    auto input = at::randn({1, 2, 6, 6}, f64());
    input.index_put_({0, 0, 2, 3}, std::numeric_limits<double>::quiet_NaN());
    input.index_put_({0, 1, at::indexing::Slice(0, 3), at::indexing::Slice(0, 3)}, std::numeric_limits<double>::quiet_NaN());
    input.index_put_({0, 1, at::indexing::Slice(3, 6), at::indexing::Slice(3, 6)}, -1e300);
    auto x = input.clone().requires_grad_(true);
    auto rois = at::tensor({0., 0., 0., 5., 5., 0., 1.5, 0.5, 4.2, 5.1}, f64()).view({2, 5});
    auto out = mmcv::ops::roi_pool(x, rois, 2, 1.0);
    auto ref = pool_forward<double>(input, rois, 2, 2, 1.0);
    EXPECT_FALSE(at::isnan(out).any().item<bool>());
    EXPECT_ALLCLOSE(out, ref.out);
    EXPECT_EQ(out[0][1][0][0].item<double>(), -static_cast<double>(FLT_MAX));
    auto go = at::randn(out.sizes(), f64());
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, go, {x})[0], pool_backward(go, rois, ref, input.sizes()));
  }
  // Degenerate rois give 0, and (MMCV quirk) their gradient lands on pixel (0, 0) of their image.
  {
    auto input = at::randn({2, 2, 5, 5}, f64());
    auto x = input.clone().requires_grad_(true);
    auto rois = at::tensor({1., 3., 1., 1., 4., 0., 2., 2., 3., 3.}, f64()).view({2, 5});  // roi 0: x2 + 1 < x1
    auto out = mmcv::ops::roi_pool(x, rois, 2, 1.0);
    EXPECT_ALLEQUAL(out[0].detach(), at::zeros({2, 2, 2}, f64()));
    auto go = at::randn(out.sizes(), f64());
    auto ref = pool_forward<double>(input, rois, 2, 2, 1.0);
    auto grad = mmcv_test::vjp(out, go, {x})[0];
    EXPECT_ALLCLOSE(grad, pool_backward(go, rois, ref, input.sizes()));
    EXPECT_NEAR(grad[1][0][0][0].item<double>(), go[0][0].sum().item<double>(), 1e-12);
  }
}

TEST_P(roi_pool_test, chunked_groups_equal_single_roi_calls) {
  // Large bins with many channels: a size group is gathered in several chunks.
  auto input = at::randn({1, 300, 60, 70}, f32());
  auto rois = random_rois(40, 1, 60, 70, 1.0, f32());
  rois.narrow(0, 5, 20).narrow(1, 1, 2).fill_(0);
  rois.narrow(0, 5, 20).narrow(1, 3, 1).fill_(69);
  rois.narrow(0, 5, 20).narrow(1, 4, 1).fill_(59);  // 20 whole-map rois: 2x2 bins of 30x35 pixels
  auto x = input.clone().requires_grad_(true);
  auto all = mmcv::ops::roi_pool(x, rois, 2, 1.0);
  auto go = at::randn(all.sizes(), f32());
  auto grad = mmcv_test::vjp(all, go, {x})[0];
  auto grad_sum = at::zeros_like(input);
  for (int64_t k = 0; k < rois.size(0); ++k) {
    auto xk = input.clone().requires_grad_(true);
    auto one = mmcv::ops::roi_pool(xk, rois.narrow(0, k, 1), 2, 1.0);
    EXPECT_ALLEQUAL(all.narrow(0, k, 1).detach(), one.detach()) << "roi " << k;
    grad_sum += mmcv_test::vjp(one, go.narrow(0, k, 1), {xk})[0];
  }
  EXPECT_ALLCLOSE(grad, grad_sum);
}

TEST_P(roi_pool_test, layouts_and_dtypes) {
  auto input = at::randn({2, 5, 10, 12}, f32());
  auto rois = random_rois(9, 2, 10, 12, 0.5, f32());
  auto ref = mmcv::ops::roi_pool(input, rois, {3, 3}, 0.5);
  EXPECT_ALLEQUAL(mmcv::ops::roi_pool(input.contiguous(at::MemoryFormat::ChannelsLast), rois, {3, 3}, 0.5), ref);
  auto wide = at::cat({input, input}, 3).narrow(3, 0, 12);
  EXPECT_ALLEQUAL(mmcv::ops::roi_pool(wide, rois.t().contiguous().t(), {3, 3}, 0.5), ref);
  EXPECT_TRUE(ref.is_contiguous());
  for (auto st : {at::kHalf, at::kBFloat16}) {
    auto h = mmcv::ops::roi_pool(input.to(st), rois.to(st), {3, 3}, 0.5);
    EXPECT_EQ(h.scalar_type(), st);
    // max picks an existing value: exact after the 16-bit round trip
    EXPECT_ALLEQUAL(h, mmcv::ops::roi_pool(input.to(st).to(at::kFloat), rois.to(st).to(at::kFloat), {3, 3}, 0.5).to(st));
  }
}

TEST_P(roi_pool_test, empty_inputs) {
  auto input = at::randn({2, 4, 6, 6}, f32()).requires_grad_(true);
  auto out = mmcv::ops::roi_pool(input, at::empty({0, 5}, f32()), {7, 5});
  EXPECT_EQ(out.sizes(), at::IntArrayRef({0, 4, 7, 5}));
  EXPECT_EQ(out.device(), device());
  out.sum().backward();
  EXPECT_ALLEQUAL(input.grad(), at::zeros_like(input));
  // every bin empty (roi outside the map): zeros, still differentiable (zero gradient)
  auto x = input.detach().clone().requires_grad_(true);
  auto far = mmcv::ops::roi_pool(x, at::tensor({0., 500., 500., 600., 600.}, f32()).view({1, 5}), 2);
  EXPECT_ALLEQUAL(far.detach(), at::zeros({1, 4, 2, 2}, f32()));
  EXPECT_ALLEQUAL(mmcv_test::vjp(far, at::ones_like(far), {x})[0], at::zeros_like(input));
}

// Issue 12, finding 3 and 13: K * PH * PW and the output size are overflow-checked up front.
TEST_P(roi_pool_test, huge_output_sizes_raise_named_errors) {
  auto x = at::rand({1, 2, 6, 6}, f32());
  auto r = at::tensor({0., 1., 1., 4., 4.}, f32()).view({1, 5});
  EXPECT_MMCV_ERROR(mmcv::ops::roi_pool(x, r, {int64_t{1} << 32, int64_t{1} << 32}),
                    "roi_pool: the number of bins rois.size(0) * output_size overflows int64");
  EXPECT_MMCV_ERROR(mmcv::ops::roi_pool(x, r, {int64_t{1} << 40, 1 << 10}),
                    "roi_pool: the output [K, C, oh, ow] = [1, 2, 1099511627776, 1024] would need");
}

TEST_P(roi_pool_test, bad_inputs_throw_named_errors) {
  auto x = at::randn({2, 3, 8, 8}, f32());
  auto r = at::tensor({0., 1., 1., 5., 5.}, f32()).view({1, 5});
  using mmcv::ops::roi_pool;
  EXPECT_MMCV_ERROR(roi_pool(x[0], r, 7), "roi_pool: expected input to be a 4-D tensor, but got 3-D tensor");
  EXPECT_MMCV_ERROR(roi_pool(x, r.narrow(1, 0, 4), 7), "roi_pool: expected rois to have shape [K, 5], but got [1, 4]");
  EXPECT_MMCV_ERROR(roi_pool(x.to(at::kInt), r.to(at::kInt), 7), "roi_pool: expected input to have a floating-point dtype");
  EXPECT_MMCV_ERROR(roi_pool(x, r.to(at::kDouble), 7), "roi_pool: expected rois to have the same dtype as input (Float), but got Double");
  EXPECT_MMCV_ERROR(roi_pool(x, r, {0, 7}), "roi_pool: expected output_size to be positive, but got 0");
  EXPECT_MMCV_ERROR(roi_pool(x, r, {}), "roi_pool: expected output_size to be an int or a pair of ints, but got 0 values");
  EXPECT_MMCV_ERROR(roi_pool(x, r, 7, std::nan("")), "roi_pool: expected spatial_scale to be finite, but got nan");
  EXPECT_MMCV_ERROR(roi_pool(at::randn({1, 3, 4, 0}, f32()), r, 7), "roi_pool: expected input width to be positive, but got 0");
  EXPECT_MMCV_ERROR(roi_pool(x, at::tensor({2.5, 1., 1., 5., 5.}, f32()).view({1, 5}), 7),
                    "roi_pool: expected rois[:, 0] (batch index) to be in [0, 1], but got 2");
  EXPECT_MMCV_ERROR(roi_pool(x, at::tensor({0., 1., INFINITY, 5., 5.}, f32()).view({1, 5}), 7),
                    "roi_pool: expected rois to contain only finite values, but got NaN or Inf");
  if (at::hasCUDA()) {
    auto other = device().is_cuda() ? r.cpu() : r.cuda();
    EXPECT_MMCV_ERROR(roi_pool(x, other, 7), "roi_pool: expected rois to be on the same device as input");
  }
}

TEST_P(roi_pool_test, default_arguments) {
  auto x = at::randn({1, 3, 12, 10}, f32());
  auto r = at::tensor({0., 1.3, 2.2, 7.9, 9.4, 0., 0., 0., 9., 11.}, f32()).view({2, 5});
  EXPECT_ALLEQUAL(mmcv::ops::roi_pool(x, r, 7), mmcv::ops::roi_pool(x, r, {7, 7}, 1.0));  // spatial_scale=1.0
}

TEST_P(roi_pool_test, module_matches_function_and_mmcv_repr) {
  auto x = at::randn({2, 3, 12, 10}, f32());
  auto r = random_rois(6, 2, 12, 10, 0.5, f32());
  mmcv::ops::RoIPool layer({3, 2}, 0.5);
  EXPECT_ALLEQUAL(layer(x, r), mmcv::ops::roi_pool(x, r, {3, 2}, 0.5));
  EXPECT_EQ(layer->output_size[1], 2);
  std::ostringstream os;
  os << *layer;
  EXPECT_EQ(os.str(), "mmcv::ops::RoIPool(output_size=(3, 2), spatial_scale=0.5)");
  mmcv::ops::RoIPool defaults(7);
  std::ostringstream os2;
  os2 << *defaults;
  EXPECT_EQ(os2.str(), "mmcv::ops::RoIPool(output_size=(7, 7), spatial_scale=1.0)");
  mmcv::ops::RoIPool sixteenth({7, 7}, 1.0 / 16);
  std::ostringstream os3;
  os3 << *sixteenth;
  EXPECT_EQ(os3.str(), "mmcv::ops::RoIPool(output_size=(7, 7), spatial_scale=0.0625)");
  torch::nn::Module parent;
  parent.register_module("pool", layer);
  EXPECT_EQ(parent.named_children().size(), 1u);
  EXPECT_MMCV_ERROR(mmcv::ops::RoIPool({7, 0}), "RoIPool: expected output_size to be positive, but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::RoIPool(7, std::numeric_limits<double>::infinity()), "RoIPool: expected spatial_scale to be finite");
}

MMCV_INSTANTIATE_DEVICES(roi_pool_test);

}  // namespace
