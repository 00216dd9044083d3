// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/roi_align.hpp (mmcv.ops.roi_align) and roi_align_module.hpp
// (mmcv.ops.RoIAlign).

#include <mmcv/ops/roi_align.hpp>
#include <mmcv/ops/roi_align_module.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/roi_reference.hpp"

namespace {

using mmcv_test::DeviceTest;
using roi_ref::align_backward;
using roi_ref::align_forward;

// Random rois over an H x W map at `scale`: inside, partly outside, tiny, zero-size and huge.
at::Tensor random_rois(int64_t K, int64_t B, int64_t H, int64_t W, double scale, at::TensorOptions opt) {
  const double iw = W / scale, ih = H / scale;
  auto x1 = at::rand({K}, at::kDouble) * (iw * 1.4) - 0.2 * iw;
  auto y1 = at::rand({K}, at::kDouble) * (ih * 1.4) - 0.2 * ih;
  auto w = at::rand({K}, at::kDouble).pow(2) * iw * 1.2;
  auto h = at::rand({K}, at::kDouble).pow(2) * ih * 1.2;
  w.narrow(0, 0, 2).zero_();  // zero-size rois
  h.narrow(0, 1, 2).fill_(0.3);  // thin rois
  auto b = at::randint(B, {K}, at::kLong).to(at::kDouble);
  return at::stack({b, x1, y1, x1 + w, y1 + h}, 1).to(opt);
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

class roi_align_test : public DeviceTest {};

TEST_P(roi_align_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("roi_align");
  ASSERT_EQ(names.size(), 19u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto input = dev(c.at("in.input")).requires_grad_(true);
    const auto os = c.param_ints("output_size");
    auto out = mmcv::ops::roi_align(input, dev(c.at("in.rois")), os, c.param_double("spatial_scale"),
                                    c.param_int("sampling_ratio"), c.param_string("pool_mode"), c.param_bool("aligned"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    auto grads = mmcv_test::vjp(out, dev(c.at("grad_out.output")), {input});
    EXPECT_ALLCLOSE(grads[0], c.at("grad.input"));
  }
}

TEST_P(roi_align_test, matches_float64_loop_reference) {
  const int64_t B = 2, C = 3, H = 9, W = 11;
  const double scale = 0.5;
  auto input = at::randn({B, C, H, W}, f64());
  auto rois = random_rois(24, B, H, W, scale, f64());
  for (bool max_mode : {false, true})
    for (bool aligned : {true, false})
      for (int64_t sr : {0, 1, 2, 3})
        for (auto os : std::vector<std::vector<int64_t>>{{3, 4}, {1, 1}, {7, 7}}) {
          SCOPED_TRACE(std::string(max_mode ? "max" : "avg") + " aligned=" + std::to_string(aligned) +
                       " sr=" + std::to_string(sr) + " out=" + std::to_string(os[0]) + "x" + std::to_string(os[1]));
          auto x = input.clone().requires_grad_(true);
          auto out = mmcv::ops::roi_align(x, rois, os, scale, sr, max_mode ? "max" : "avg", aligned);
          auto ref = align_forward(input, rois, os[0], os[1], scale, sr, max_mode, aligned);
          EXPECT_ALLCLOSE(out, ref.out);
          auto go = at::randn(out.sizes(), f64());
          auto grad = mmcv_test::vjp(out, go, {x})[0];
          EXPECT_ALLCLOSE(grad, align_backward(go, rois, ref, input.sizes(), os[0], os[1], scale, sr, max_mode, aligned));
          // float32 agrees with the float64 reference to float32 precision.
          auto out32 = mmcv::ops::roi_align(input.to(at::kFloat), rois.to(at::kFloat), os, scale, sr,
                                            max_mode ? "max" : "avg", aligned);
          EXPECT_EQ(out32.scalar_type(), at::kFloat);
          EXPECT_ALLCLOSE(out32, ref.out, mmcv_test::Tol{1e-4, 1e-5});
        }
}

TEST_P(roi_align_test, gradients_match_finite_differences) {
  auto input = at::randn({2, 2, 6, 7}, f64()).requires_grad_(true);
  auto rois = at::tensor({0., 1.2, 0.7, 9.1, 8.3,  //
                          1., -2.0, 3.1, 5.4, 13.9,  //
                          1., 10.5, 9.5, 14.0, 12.6},
                         f64())
                  .view({3, 5});
  for (const char* mode : {"avg", "max"})
    for (int64_t sr : {0, 2}) {
      SCOPED_TRACE(std::string(mode) + " sr=" + std::to_string(sr));
      EXPECT_TRUE(mmcv_test::gradcheck(
          [&](const std::vector<at::Tensor>& in) { return mmcv::ops::roi_align(in[0], rois, {3, 2}, 0.5, sr, mode, true); },
          {input}));
    }
}

TEST_P(roi_align_test, adaptive_sampling_differs_per_roi) {
  // Two rois of very different size in one call: sampling_ratio 0 gives each its own grid
  // (ceil(roi / out)), which the loop reference computes roi by roi.
  auto input = at::randn({1, 2, 40, 50}, f64());
  auto rois = at::tensor({0., 1., 1., 3., 2.5,  //
                          0., 0., 0., 49., 39.,  //
                          0., 10., 5., 10., 5.},
                         f64())
                  .view({3, 5});
  for (bool aligned : {true, false}) {
    auto out = mmcv::ops::roi_align(input, rois, {2, 3}, 1.0, 0, "avg", aligned);
    EXPECT_ALLCLOSE(out, align_forward(input, rois, 2, 3, 1.0, 0, false, aligned).out);
  }
}

TEST_P(roi_align_test, empty_aligned_roi_gives_zero_avg_and_floor_max) {
  auto input = at::randn({1, 2, 5, 5}, f64());
  auto rois = at::tensor({0., 2., 2., 2., 2.}, f64()).view({1, 5});  // zero size, aligned: grid 0
  auto avg = mmcv::ops::roi_align(input, rois, 2, 1.0, 0, "avg", true);
  EXPECT_ALLEQUAL(avg, at::zeros({1, 2, 2, 2}, f64()));
  auto x = input.clone().requires_grad_(true);
  auto mx = mmcv::ops::roi_align(x, rois, 2, 1.0, 0, "max", true);
  EXPECT_ALLEQUAL(mx.detach(), at::full({1, 2, 2, 2}, -10000.0, f64()));
  auto g = mmcv_test::vjp(mx, at::ones_like(mx), {x})[0];
  EXPECT_ALLEQUAL(g, at::zeros_like(input));
}

TEST_P(roi_align_test, max_mode_floor_ties_nan_and_minus_one_sentinel) {
  // Values below MMCV's -10000 floor: output -10000, no gradient.
  {
    auto x = at::full({1, 1, 4, 4}, -20000.0, f64()).requires_grad_(true);
    auto rois = at::tensor({0., 0., 0., 3., 3.}, f64()).view({1, 5});
    auto out = mmcv::ops::roi_align(x, rois, 2, 1.0, 2, "max", false);
    EXPECT_ALLEQUAL(out.detach(), at::full({1, 1, 2, 2}, -10000.0, f64()));
    EXPECT_ALLEQUAL(mmcv_test::vjp(out, at::ones_like(out), {x})[0], at::zeros({1, 1, 4, 4}, f64()));
  }
  // Constant zero map: every sample is exactly 0, the first one (iy = 0, ix = 0) takes the gradient.
  {
    auto input = at::zeros({1, 1, 6, 6}, f64());
    auto x = input.clone().requires_grad_(true);
    auto rois = at::tensor({0., 0.3, 0.6, 4.7, 5.2}, f64()).view({1, 5});
    auto out = mmcv::ops::roi_align(x, rois, 2, 1.0, 3, "max", true);
    auto go = at::randn(out.sizes(), f64());
    auto ref = align_forward(input, rois, 2, 2, 1.0, 3, true, true);
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, go, {x})[0], align_backward(go, rois, ref, input.sizes(), 2, 2, 1.0, 3, true, true));
  }
  // NaN samples are skipped by MMCV's `val > maxval`; avg propagates them.
  {
    auto input = at::randn({1, 2, 7, 8}, f64());
    input.index_put_({0, 0, 3, 4}, std::numeric_limits<double>::quiet_NaN());
    auto rois = at::tensor({0., 0.2, 0.4, 7.3, 6.1, 0., 4.1, 2.2, 6.6, 5.1}, f64()).view({2, 5});
    auto x = input.clone().requires_grad_(true);
    auto out = mmcv::ops::roi_align(x, rois, 3, 1.0, 2, "max", true);
    auto ref = align_forward(input, rois, 3, 3, 1.0, 2, true, true);
    EXPECT_ALLCLOSE(out, ref.out);
    EXPECT_FALSE(at::isnan(out).any().item<bool>());
    auto go = at::randn(out.sizes(), f64());
    EXPECT_ALLCLOSE(mmcv_test::vjp(out, go, {x})[0], align_backward(go, rois, ref, input.sizes(), 3, 3, 1.0, 2, true, true));
    auto avg = mmcv::ops::roi_align(input, rois, 3, 1.0, 2, "avg", true);
    EXPECT_ALLCLOSE(avg, align_forward(input, rois, 3, 3, 1.0, 2, false, true).out);  // NaN == NaN
    EXPECT_TRUE(at::isnan(avg).any().item<bool>());
  }
  // MMCV's CPU kernel reads taps of weight 0 too (0 * NaN = NaN): the upper row of a sample lying
  // exactly on a row, and pixel (0, 0) for every sample outside the map. Both propagate like MMCV.
  {
    auto input = at::randn({1, 2, 6, 6}, f64());
    input.index_put_({0, 0, 3, 2}, std::numeric_limits<double>::quiet_NaN());  // zero-weight tap of y = 2.0
    input.index_put_({0, 1, 0, 0}, std::numeric_limits<double>::quiet_NaN());  // read by outside samples
    auto rois = at::tensor({0., 1.5, 1.5, 3.5, 3.5,     // samples at y, x = 2.0 and 3.0 exactly
                            0., -3.0, 2.0, 3.0, 4.0,    // half outside the map (x < -1)
                            0., 3.1, 3.6, 5.2, 5.9},    // inside, away from both NaNs
                           f64())
                    .view({3, 5});
    for (const char* mode : {"avg", "max"}) {
      auto out = mmcv::ops::roi_align(input, rois, 2, 1.0, 1, mode, false);
      auto ref = align_forward(input, rois, 2, 2, 1.0, 1, std::string(mode) == "max", false);
      EXPECT_ALLCLOSE(out, ref.out) << mode;  // NaN == NaN
      if (std::string(mode) == "avg") {
        EXPECT_TRUE(at::isnan(out[0][0]).any().item<bool>());
        EXPECT_TRUE(at::isnan(out[1][1]).any().item<bool>());
        EXPECT_FALSE(at::isnan(out[2]).any().item<bool>());
      } else {
        EXPECT_FALSE(at::isnan(out).any().item<bool>());
      }
    }
  }
  // A maximal sample exactly at y = -1 collides with MMCV's "no arg-max" sentinel: MMCV routes no
  // gradient for it, and neither do we (the value is still the sample's).
  {
    auto input = at::randn({1, 1, 4, 4}, f64());
    auto x = input.clone().requires_grad_(true);
    auto rois = at::tensor({0., 1.0, -1.5, 2.0, -0.5}, f64()).view({1, 5});  // one sample at y = -1
    auto out = mmcv::ops::roi_align(x, rois, 1, 1.0, 1, "max", false);
    auto ref = align_forward(input, rois, 1, 1, 1.0, 1, true, false);
    ASSERT_EQ(ref.argmax_y.item<double>(), -1.0);
    EXPECT_ALLCLOSE(out, ref.out);
    EXPECT_ALLEQUAL(mmcv_test::vjp(out, at::ones_like(out), {x})[0], at::zeros_like(input));
  }
}

TEST_P(roi_align_test, chunked_calls_equal_single_roi_calls) {
  // Enough large rois that both modes run in several chunks; every chunk pads to its own maxima,
  // which must not change a single value.
  auto input = at::randn({2, 2, 64, 96}, f32());
  auto huge = random_rois(300, 2, 64, 96, 1.0, f32());
  huge.narrow(0, 0, 150).narrow(1, 3, 2).add_(300);  // wide windows: avg runs in several chunks
  auto plain = random_rois(120, 2, 64, 96, 1.0, f32());  // many samples: max runs in several chunks
  for (const char* mode : {"avg", "max"}) {
    SCOPED_TRACE(mode);
    auto r = std::string(mode) == "max" ? plain : huge;
    auto all = mmcv::ops::roi_align(input, r, 7, 1.0, 0, mode, true);
    for (int64_t k = 0; k < r.size(0); k += 37) {
      auto one = mmcv::ops::roi_align(input, r.narrow(0, k, 1), 7, 1.0, 0, mode, true);
      EXPECT_ALLEQUAL(all.narrow(0, k, 1), one) << "roi " << k;
    }
  }
}

TEST_P(roi_align_test, layouts_and_dtypes) {
  auto input = at::randn({2, 5, 10, 12}, f32());
  auto rois = random_rois(9, 2, 10, 12, 0.5, f32());
  auto ref = mmcv::ops::roi_align(input, rois, {3, 3}, 0.5, 2);
  // channels_last, non-contiguous input and rois
  EXPECT_ALLCLOSE(mmcv::ops::roi_align(input.contiguous(at::MemoryFormat::ChannelsLast), rois, {3, 3}, 0.5, 2), ref);
  auto wide = at::cat({input, input}, 3).narrow(3, 0, 12);
  EXPECT_ALLCLOSE(mmcv::ops::roi_align(wide, rois.t().contiguous().t(), {3, 3}, 0.5, 2), ref);
  EXPECT_TRUE(ref.is_contiguous());
  // float16 / bfloat16: computed in float32, returned in their dtype.
  for (auto st : {at::kHalf, at::kBFloat16}) {
    auto h = mmcv::ops::roi_align(input.to(st), rois.to(st), {3, 3}, 0.5, 2);
    EXPECT_EQ(h.scalar_type(), st);
    auto expect = mmcv::ops::roi_align(input.to(st).to(at::kFloat), rois.to(st).to(at::kFloat), {3, 3}, 0.5, 2);
    EXPECT_ALLCLOSE(h.to(at::kFloat), expect, mmcv_test::Tol{1e-2, 1e-2});  // one rounding to 16 bits
  }
}

// Issue 12, finding 10: with C = 1 a permuted / channels-last view kept a stride on the size-1
// channel dim, ATen's embedding_bag took another kernel and the result differed by ulps (64 ulps
// in one max-mode case with requires_grad, through a different arg-max). Views must be bit-equal
// to the contiguous call: values and gradients, both modes, function and module.
TEST_P(roi_align_test, views_are_bit_equal_to_the_contiguous_call) {
  for (int64_t C : {1, 3}) {
    auto base = at::rand({2, C, 6, 3}, f32());
    auto rois = random_rois(7, 2, 6, 3, 1.0, f32());
    const std::vector<at::Tensor> views{base.permute({3, 2, 1, 0}).contiguous().permute({3, 2, 1, 0}),
                                        base.contiguous(at::MemoryFormat::ChannelsLast),
                                        at::cat({base, base}, 3).narrow(3, 0, 3)};
    for (const auto& view : views)
      for (const char* mode : {"avg", "max"})
        for (int64_t sr : {0, 2}) {
          SCOPED_TRACE(std::string(mode) + " C=" + std::to_string(C) + " sr=" + std::to_string(sr));
          auto b = base.detach().requires_grad_(true), v = view.detach().requires_grad_(true);
          auto ob = mmcv::ops::roi_align(b, rois, {2, 2}, 1.0, sr, mode, true);
          auto ov = mmcv::ops::roi_align(v, rois, {2, 2}, 1.0, sr, mode, true);
          EXPECT_TRUE(at::equal(ob, ov)) << (ob - ov).abs().max();
          auto w = at::rand_like(ob);
          EXPECT_TRUE(at::equal(mmcv_test::vjp(ob, w, {b})[0], mmcv_test::vjp(ov, w, {v})[0]));
          mmcv::ops::RoIAlign layer({2, 2}, 1.0, sr, mode, true);
          EXPECT_TRUE(at::equal(layer(base, rois), layer(view, rois)));
        }
  }
}

// Issue 12, findings 6, 7, 8 and 13: work set by a parameter alone is refused up front (max mode:
// at most kRoiMaxSamples = 2^22 samples per RoI), finite rois that overflow after scaling are
// refused, and output_size INT64_MAX gives our message (not a SymInt one).
TEST_P(roi_align_test, huge_parameters_fail_fast_with_named_errors) {
  auto x = at::rand({1, 1, 6, 3}, f32());
  auto r = at::tensor({0., 0., 0., 3., 6.}, f32()).view({1, 5});
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align(x, r, 1, 1.0, 4096, "max"),
                    "roi_align: expected the samples of one roi in max mode (oh * ow * grid_h * grid_w) to be at most 2^22");
  EXPECT_EQ(mmcv::ops::roi_align(x, r, 1, 1.0, 4096, "avg").sizes(), at::IntArrayRef({1, 1, 1, 1}));  // cheap: deduplicated taps
  auto huge_roi = at::tensor({0., 0., 0., 1e5, 1e5}, f32()).view({1, 5});
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align(x, huge_roi, 7, 1.0, 0, "max"), "roi_align: expected the samples of one roi in max mode");
  auto overflow = at::tensor({0., 0., 0., 3e38, 3e38}, f32()).view({1, 5});
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align(x, overflow, 2, 10.0), "roi_align: expected rois * spatial_scale to be finite");
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align(x, r, {std::numeric_limits<int64_t>::max(), 1}), "roi_align: the output [K, C, oh, ow] =");
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align(x, r.repeat({2, 1}), {std::numeric_limits<int64_t>::max(), 1}),
                    "roi_align: the number of bins rois.size(0) * output_size overflows int64");
}

TEST_P(roi_align_test, empty_inputs) {
  auto input = at::randn({2, 4, 6, 6}, f32()).requires_grad_(true);
  auto out = mmcv::ops::roi_align(input, at::empty({0, 5}, f32()), {7, 5});
  EXPECT_EQ(out.sizes(), at::IntArrayRef({0, 4, 7, 5}));
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_EQ(out.device(), device());
  out.sum().backward();  // stays on the graph, like MMCV's Function
  EXPECT_ALLEQUAL(input.grad(), at::zeros_like(input));
  auto no_channels = mmcv::ops::roi_align(at::randn({1, 0, 6, 6}, f64()), at::tensor({0., 1., 1., 3., 3.}, f64()).view({1, 5}), 2);
  EXPECT_EQ(no_channels.sizes(), at::IntArrayRef({1, 0, 2, 2}));
  // rois entirely outside the map: zeros (avg), and max mode keeps a zero gradient path
  auto far = at::tensor({0., 500., 500., 600., 600.}, f32()).view({1, 5});
  EXPECT_ALLEQUAL(mmcv::ops::roi_align(input.detach(), far, 2), at::zeros({1, 4, 2, 2}, f32()));
}

TEST_P(roi_align_test, bad_inputs_throw_named_errors) {
  auto x = at::randn({2, 3, 8, 8}, f32());
  auto r = at::tensor({0., 1., 1., 5., 5.}, f32()).view({1, 5});
  using mmcv::ops::roi_align;
  EXPECT_MMCV_ERROR(roi_align(x[0], r, 7), "roi_align: expected input to be a 4-D tensor, but got 3-D tensor");
  EXPECT_MMCV_ERROR(roi_align(x, r.narrow(1, 0, 4), 7), "roi_align: expected rois to have shape [K, 5], but got [1, 4]");
  EXPECT_MMCV_ERROR(roi_align(x, r.view({5}), 7), "roi_align: expected rois to have shape [K, 5], but got [5]");
  EXPECT_MMCV_ERROR(roi_align(x.to(at::kLong), r.to(at::kLong), 7), "roi_align: expected input to have a floating-point dtype");
  EXPECT_MMCV_ERROR(roi_align(x, r.to(at::kDouble), 7), "roi_align: expected rois to have the same dtype as input (Float), but got Double");
  EXPECT_MMCV_ERROR(roi_align(x, r, {7, 7, 7}), "roi_align: expected output_size to be an int or a pair of ints, but got 3 values");
  EXPECT_MMCV_ERROR(roi_align(x, r, {7, 0}), "roi_align: expected output_size to be positive, but got 0");
  EXPECT_MMCV_ERROR(roi_align(x, r, 7, 1.0, -1), "roi_align: expected sampling_ratio to be non-negative, but got -1");
  EXPECT_MMCV_ERROR(roi_align(x, r, 7, 1.0, 0, "sum"), "roi_align: expected pool_mode to be one of {\"avg\", \"max\"}, but got \"sum\"");
  EXPECT_MMCV_ERROR(roi_align(x, r, 7, std::numeric_limits<double>::infinity()), "roi_align: expected spatial_scale to be finite, but got inf");
  EXPECT_MMCV_ERROR(roi_align(x, r, 7, 1e300), "roi_align: expected spatial_scale to be finite");  // inf as float32
  EXPECT_MMCV_ERROR(roi_align(at::randn({1, 3, 0, 8}, f32()), r, 7), "roi_align: expected input height to be positive, but got 0");
  EXPECT_MMCV_ERROR(roi_align(x, at::tensor({2., 1., 1., 5., 5.}, f32()).view({1, 5}), 7),
                    "roi_align: expected rois[:, 0] (batch index) to be in [0, 1], but got 2");
  EXPECT_MMCV_ERROR(roi_align(x, at::tensor({-1., 1., 1., 5., 5.}, f32()).view({1, 5}), 7),
                    "roi_align: expected rois[:, 0] (batch index) to be in [0, 1], but got -1");
  EXPECT_MMCV_ERROR(roi_align(x, at::tensor({0., std::nan(""), 1., 5., 5.}, f32()).view({1, 5}), 7),
                    "roi_align: expected rois to contain only finite values, but got NaN or Inf");
  EXPECT_MMCV_ERROR(roi_align(x, at::tensor({0., 5., 1., 1., 5.}, f32()).view({1, 5}), 7, 1.0, 0, "avg", true),
                    "roi_align: expected the scaled width and height of every roi (aligned=True) to be in [0, inf], but got -4");
  // aligned=False clamps the same roi to 1 pixel instead of failing, like MMCV
  EXPECT_NO_THROW(roi_align(x, at::tensor({0., 5., 1., 1., 5.}, f32()).view({1, 5}), 7, 1.0, 0, "avg", false));
  if (at::hasCUDA()) {
    auto other = device().is_cuda() ? r.cpu() : r.cuda();
    EXPECT_MMCV_ERROR(roi_align(x, other, 7), "roi_align: expected rois to be on the same device as input");
  }
}

TEST_P(roi_align_test, default_arguments) {
  auto x = at::randn({1, 3, 12, 10}, f32());
  auto r = at::tensor({0., 1.3, 2.2, 7.9, 9.4, 0., 0., 0., 9., 11.}, f32()).view({2, 5});
  // MMCV defaults: spatial_scale 1.0, sampling_ratio 0, pool_mode "avg", aligned True; 7 == (7, 7)
  EXPECT_ALLEQUAL(mmcv::ops::roi_align(x, r, 7), mmcv::ops::roi_align(x, r, {7, 7}, 1.0, 0, "avg", true));
  EXPECT_EQ(mmcv::ops::roi_align(x, r, 7).sizes(), at::IntArrayRef({2, 3, 7, 7}));
}

TEST_P(roi_align_test, module_matches_function_and_mmcv_repr) {
  auto x = at::randn({2, 3, 12, 10}, f32());
  auto r = random_rois(5, 2, 12, 10, 0.5, f32());
  mmcv::ops::RoIAlign layer({3, 2}, 0.5, 2, "max", false);
  EXPECT_ALLEQUAL(layer(x, r), mmcv::ops::roi_align(x, r, {3, 2}, 0.5, 2, "max", false));
  EXPECT_EQ(layer->output_size[0], 3);
  EXPECT_EQ(layer->pool_mode, "max");
  std::ostringstream os;
  os << *layer;
  EXPECT_EQ(os.str(),
            "mmcv::ops::RoIAlign(output_size=(3, 2), spatial_scale=0.5, sampling_ratio=2, pool_mode=max, "
            "aligned=False, use_torchvision=False)");
  // defaults, an int output_size, registration as a submodule, clone()
  mmcv::ops::RoIAlign defaults(7);
  std::ostringstream os2;
  os2 << *defaults;
  EXPECT_EQ(os2.str(),
            "mmcv::ops::RoIAlign(output_size=(7, 7), spatial_scale=1.0, sampling_ratio=0, pool_mode=avg, "
            "aligned=True, use_torchvision=False)");
  torch::nn::Module parent;
  parent.register_module("roi", layer);
  EXPECT_EQ(parent.named_children().size(), 1u);
  auto copy = std::dynamic_pointer_cast<mmcv::ops::RoIAlignImpl>(layer->clone());
  ASSERT_TRUE(copy);
  EXPECT_ALLEQUAL(copy->forward(x, r), layer(x, r));
  // use_torchvision: MMCV then calls torchvision's roi_align, which only averages
  mmcv::ops::RoIAlign tv({3, 2}, 0.5, 2, "max", true, /*use_torchvision=*/true);
  EXPECT_ALLEQUAL(tv(x, r), mmcv::ops::roi_align(x, r, {3, 2}, 0.5, 2, "avg", true));
  // arguments are checked at construction
  EXPECT_MMCV_ERROR(mmcv::ops::RoIAlign(7, 1.0, 0, "sum"), "RoIAlign: expected pool_mode to be one of {\"avg\", \"max\"}");
  EXPECT_MMCV_ERROR(mmcv::ops::RoIAlign({7, -1}), "RoIAlign: expected output_size to be positive, but got -1");
  EXPECT_MMCV_ERROR(mmcv::ops::RoIAlign(7, 1.0, -2), "RoIAlign: expected sampling_ratio to be non-negative, but got -2");
}

MMCV_INSTANTIATE_DEVICES(roi_align_test);

}  // namespace
