// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/roi_align_rotated.hpp (mmcv.ops.roi_align_rotated) and
// include/mmcv/ops/roi_align_rotated_module.hpp (mmcv.ops.RoIAlignRotated).

#include <mmcv/ops/roi_align.hpp>
#include <mmcv/ops/roi_align_rotated.hpp>
#include <mmcv/ops/roi_align_rotated_module.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/roi_align_rotated_reference.hpp"

namespace {

using mmcv_test::DeviceTest;
using roi_align_rotated_ref::loop_reference;

// RoIs (batch, cx, cy, w, h, theta) in image coordinates, some partly outside a W x H image.
at::Tensor random_rois(int64_t k, int64_t batch, double img_w, double img_h, at::TensorOptions opt) {
  auto d = at::TensorOptions().dtype(at::kDouble);
  auto b = at::randint(batch, {k, 1}, d);
  auto cx = at::rand({k, 1}, d) * img_w * 1.2 - img_w * 0.1;
  auto cy = at::rand({k, 1}, d) * img_h * 1.2 - img_h * 0.1;
  auto w = at::rand({k, 1}, d) * img_w * 0.6 + 1;
  auto h = at::rand({k, 1}, d) * img_h * 0.6 + 1;
  auto t = (at::rand({k, 1}, d) - 0.5) * 2 * M_PI;
  return at::cat({b, cx, cy, w, h, t}, 1).to(opt.dtype()).to(opt.device());
}

class roi_align_rotated_test : public DeviceTest {};

TEST_P(roi_align_rotated_test, matches_mmcv_reference_forward_and_backward) {
  const auto names = mmcv_test::cases_for_op("roi_align_rotated");
  ASSERT_EQ(names.size(), 9u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto input = dev(c.at("in.input")).requires_grad_(true);
    auto out = mmcv::ops::roi_align_rotated(input, dev(c.at("in.rois")), c.param_ints("output_size"),
                                            c.param_double("spatial_scale"), c.param_int("sampling_ratio"),
                                            c.param_bool("aligned"), c.param_bool("clockwise"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.output"));
    auto grads = mmcv_test::vjp(out, dev(c.at("grad_out.output")), {input});
    EXPECT_ALLCLOSE(grads[0], c.at("grad.input"));
  }
}

TEST_P(roi_align_rotated_test, matches_float64_loop_reference) {
  auto input = at::randn({2, 3, 13, 17}, f64());
  for (bool aligned : {true, false})
    for (bool clockwise : {false, true})
      for (int64_t sr : {0, 1, 3}) {
        SCOPED_TRACE("aligned " + std::to_string(aligned) + " cw " + std::to_string(clockwise) + " sr " +
                     std::to_string(sr));
        auto rois = random_rois(9, 2, 17 * 4, 13 * 4, f64());
        auto x = input.clone().requires_grad_(true);
        auto out = mmcv::ops::roi_align_rotated(x, rois, {4, 5}, 0.25, sr, aligned, clockwise);
        auto g = at::randn_like(out);
        auto ref = loop_reference(input, rois, 4, 5, 0.25, sr, aligned, clockwise, g);
        EXPECT_ALLCLOSE(out, ref.out);
        EXPECT_ALLCLOSE(mmcv_test::vjp(out, g, {x})[0], ref.grad);
        auto out32 = mmcv::ops::roi_align_rotated(input.to(at::kFloat), rois.to(at::kFloat), {4, 5}, 0.25, sr, aligned,
                                                  clockwise);
        EXPECT_ALLCLOSE(out32, ref.out, mmcv_test::tol_for(at::kFloat));
      }
}

TEST_P(roi_align_rotated_test, gradient_matches_finite_differences) {
  auto input = at::randn({1, 2, 6, 7}, f64()).requires_grad_(true);
  auto rois = at::tensor({0.0, 3.1, 2.7, 4.3, 3.2, 0.4, 0.0, 5.0, 1.0, 6.0, 2.0, -1.1, 0.0, 0.2, 5.5, 3.0, 5.0, 2.5},
                         f64())
                  .view({3, 6});
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) {
        return mmcv::ops::roi_align_rotated(in[0], rois, {3, 2}, 1.0, 2, true, false);
      },
      {input}));
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) {
        return mmcv::ops::roi_align_rotated(in[0], rois, {2, 3}, 1.0, 0, false, true);
      },
      {input}));
}

TEST_P(roi_align_rotated_test, adaptive_grids_across_many_chunks) {
  // Large adaptive grids (up to ~40 x 40 samples per bin): RoIs split over several chunks, and a
  // single RoI larger than a chunk split by bin rows.
  auto input = at::randn({1, 2, 40, 50}, f64());
  auto rois = random_rois(6, 1, 400, 320, f64());
  rois[0][3] = 1600.0;  // 229 x 172 samples per bin of a 7 x 7 grid: more than a chunk per bin row
  rois[0][4] = 1200.0;
  auto x = input.clone().requires_grad_(true);
  auto out = mmcv::ops::roi_align_rotated(x, rois, {7, 7}, 1.0, 0, true, false);
  auto g = at::randn_like(out);
  auto ref = loop_reference(input, rois, 7, 7, 1.0, 0, true, false, g);
  EXPECT_ALLCLOSE(out, ref.out);
  EXPECT_ALLCLOSE(mmcv_test::vjp(out, g, {x})[0], ref.grad);
  // Each RoI alone gives the same rows (no dependence on the chunk).
  for (int64_t k = 0; k < 6; ++k)
    EXPECT_ALLCLOSE(mmcv::ops::roi_align_rotated(input, rois.narrow(0, k, 1), {7, 7}, 1.0, 0, true, false),
                    out.narrow(0, k, 1), mmcv_test::Tol{1e-12, 1e-12});
}

TEST_P(roi_align_rotated_test, conventions) {
  auto input = at::randn({2, 4, 12, 15}, f32());
  auto rois = random_rois(8, 2, 60, 48, f32());
  // clockwise=true with theta is clockwise=false with -theta.
  auto neg = rois.clone();
  neg.select(1, 5).neg_();
  EXPECT_ALLCLOSE(mmcv::ops::roi_align_rotated(input, rois, {3, 3}, 0.25, 2, true, true),
                  mmcv::ops::roi_align_rotated(input, neg, {3, 3}, 0.25, 2, true, false));
  // Angle 0: the axis-aligned RoI Align of the same box (cx +- w/2, cy +- h/2); aligned shifts
  // only the centre here and both corners there, which is the same sampling grid.
  auto r0 = at::tensor({1.0, 30.0, 20.0, 24.0, 16.0, 0.0, 0.0, 17.0, 33.0, 9.0, 30.0, 0.0}, f32()).view({2, 6});
  auto corners = at::stack({r0.select(1, 0), r0.select(1, 1) - r0.select(1, 3) / 2, r0.select(1, 2) - r0.select(1, 4) / 2,
                            r0.select(1, 1) + r0.select(1, 3) / 2, r0.select(1, 2) + r0.select(1, 4) / 2},
                           1);
  for (int64_t sr : {0, 2})
    for (bool aligned : {true, false})
      EXPECT_ALLCLOSE(mmcv::ops::roi_align_rotated(input, r0, {3, 2}, 0.25, sr, aligned, false),
                      mmcv::ops::roi_align(input, corners, {3, 2}, 0.25, sr, "avg", aligned),
                      mmcv_test::tol_for(at::kFloat));
  // An adaptive RoI of size 0 (aligned) has an empty grid: output 0, no NaN.
  auto empty_roi = at::tensor({1.0, 10.0, 10.0, 0.0, 0.0, 0.3}, f32()).view({1, 6});
  EXPECT_EQ(mmcv::ops::roi_align_rotated(input, empty_roi, {2, 2}, 0.25, 0, true, false).abs().sum().item<float>(), 0.f);
  // aligned=false clamps the size to >= 1 (so a zero-size RoI still samples).
  auto legacy = mmcv::ops::roi_align_rotated(input, empty_roi, {2, 2}, 0.25, 0, false, false);
  EXPECT_ALLCLOSE(legacy, loop_reference(input, empty_roi, 2, 2, 0.25, 0, false, false).out,
                  mmcv_test::tol_for(at::kFloat));
  // A RoI fully outside the map gives 0.
  auto outside = at::tensor({0.0, -500.0, -500.0, 20.0, 20.0, 0.1}, f32()).view({1, 6});
  EXPECT_EQ(mmcv::ops::roi_align_rotated(input, outside, {2, 2}).abs().sum().item<float>(), 0.f);
}

TEST_P(roi_align_rotated_test, default_arguments_dtypes_and_views) {
  auto input = at::randn({1, 3, 9, 11}, f32());
  auto rois = random_rois(5, 1, 11, 9, f32());
  auto out = mmcv::ops::roi_align_rotated(input, rois, {2, 3});
  EXPECT_EQ(out.sizes(), at::IntArrayRef({5, 3, 2, 3}));
  EXPECT_ALLEQUAL(out, mmcv::ops::roi_align_rotated(input, rois, {2, 3}, 1.0, 0, true, false));
  EXPECT_EQ(mmcv::ops::roi_align_rotated(input, rois, {4}).sizes(), at::IntArrayRef({5, 3, 4, 4}));  // int size
  // Channels-last and transposed-storage inputs give the same result.
  EXPECT_ALLCLOSE(mmcv::ops::roi_align_rotated(input.contiguous(at::MemoryFormat::ChannelsLast), rois, {2, 3}), out);
  EXPECT_ALLCLOSE(mmcv::ops::roi_align_rotated(input, rois.t().contiguous().t(), {2, 3}), out);
  // Half: computed in float32, returned as half (MMCV's CPU kernel dispatches half too).
  auto h = mmcv::ops::roi_align_rotated(input.to(at::kHalf), rois.to(at::kHalf), {2, 3});
  EXPECT_EQ(h.scalar_type(), at::kHalf);
  EXPECT_ALLCLOSE(h, mmcv::ops::roi_align_rotated(input.to(at::kHalf).to(at::kFloat),
                                                  rois.to(at::kHalf).to(at::kFloat), {2, 3}),
                  mmcv_test::tol_for(at::kHalf));
}

// Issue 12, finding 10: a C = 1 view (size-1 channel dim with a non-canonical stride) took another
// embedding_bag kernel and differed by ulps. Views are bit-equal, values and gradients.
TEST_P(roi_align_rotated_test, views_are_bit_equal_to_the_contiguous_call) {
  for (int64_t C : {1, 3}) {
    auto base = at::rand({1, C, 6, 5}, f32());
    auto rois = random_rois(6, 1, 5, 6, f32());
    for (const auto& view : {base.permute({3, 2, 1, 0}).contiguous().permute({3, 2, 1, 0}),
                             base.contiguous(at::MemoryFormat::ChannelsLast)}) {
      auto b = base.detach().requires_grad_(true), v = view.detach().requires_grad_(true);
      auto ob = mmcv::ops::roi_align_rotated(b, rois, {2, 2}, 1.0, 0);
      auto ov = mmcv::ops::roi_align_rotated(v, rois, {2, 2}, 1.0, 0);
      EXPECT_TRUE(at::equal(ob, ov)) << "C=" << C << " " << (ob - ov).abs().max();
      auto w = at::rand_like(ob);
      EXPECT_TRUE(at::equal(mmcv_test::vjp(ob, w, {b})[0], mmcv_test::vjp(ov, w, {v})[0])) << "C=" << C;
    }
  }
}

// Issue 12, findings 4 and 9: output_size {2^40, 1} sized a host vector by K * PH (std::bad_alloc /
// length_error, not c10::Error), and {2^20} ran for minutes. Now: our error, up front, or work
// bounded by the output; a finite roi that overflows after scaling is refused; samples per bin
// row are capped (kRoiMaxSamples).
TEST_P(roi_align_rotated_test, huge_sizes_fail_fast_with_named_errors) {
  auto x = at::rand({1, 1, 6, 6}, f32());
  auto r = at::tensor({0., 3., 3., 2., 2., 0.3}, f32()).view({1, 6});
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align_rotated(x, r, {int64_t{1} << 40, 1}, 1.0, 1),
                    "roi_align_rotated: cannot allocate the output [K, C, oh, ow] =");
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align_rotated(x, r, {int64_t{1} << 40, 1 << 20}),
                    "roi_align_rotated: the output [K, C, oh, ow] = [1, 1, 1099511627776, 1048576] would need");
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align_rotated(x, r, {std::numeric_limits<int64_t>::max(), 2}),
                    "roi_align_rotated: the number of bins rois.size(0) * output_size overflows int64");
  // A tall output within memory: many bin rows, one chunk plan without a K * PH table.
  auto tall = mmcv::ops::roi_align_rotated(x, r.repeat({3, 1}), {4096, 2}, 1.0, 1);
  EXPECT_EQ(tall.sizes(), at::IntArrayRef({3, 1, 4096, 2}));
  EXPECT_TRUE(at::equal(tall[0], tall[2]));
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align_rotated(x, r, {1, 1}, 1.0, 4096),
                    "roi_align_rotated: expected the samples of one bin row (ow * grid_h * grid_w) to be at most 2^22");
  auto big = at::tensor({0., 3e38, 3., 2., 2., 0.3}, f32()).view({1, 6});
  EXPECT_MMCV_ERROR(mmcv::ops::roi_align_rotated(x, big, 2, 10.0), "roi_align_rotated: expected rois * spatial_scale to be finite");
}

TEST_P(roi_align_rotated_test, empty_inputs) {
  auto input = at::randn({2, 3, 5, 5}, f32()).requires_grad_(true);
  auto out = mmcv::ops::roi_align_rotated(input, at::empty({0, 6}, f32()), {2, 2});
  EXPECT_EQ(out.sizes(), at::IntArrayRef({0, 3, 2, 2}));
  EXPECT_EQ(out.device(), device());
  auto g = mmcv_test::vjp(out, at::zeros_like(out), {input});
  ASSERT_TRUE(g[0].defined());
  EXPECT_EQ(g[0].abs().sum().item<float>(), 0.f);
  auto c0 = mmcv::ops::roi_align_rotated(at::randn({1, 0, 5, 5}, f32()), random_rois(2, 1, 5, 5, f32()), {2, 2});
  EXPECT_EQ(c0.sizes(), at::IntArrayRef({2, 0, 2, 2}));
}

TEST_P(roi_align_rotated_test, bad_inputs_raise_clear_errors) {
  using mmcv::ops::roi_align_rotated;
  auto input = at::randn({2, 3, 5, 5}, f32());
  auto rois = random_rois(3, 2, 5, 5, f32());
  EXPECT_MMCV_ERROR(roi_align_rotated(input[0], rois, {2, 2}), "roi_align_rotated: expected input to be a 4-D tensor");
  EXPECT_MMCV_ERROR(roi_align_rotated(input, rois.narrow(1, 0, 5), {2, 2}),
                    "roi_align_rotated: expected rois to have shape [K, 6], but got [3, 5]");
  EXPECT_MMCV_ERROR(roi_align_rotated(input.to(at::kInt), rois.to(at::kInt), {2, 2}),
                    "roi_align_rotated: expected input to have a floating-point dtype");
  EXPECT_MMCV_ERROR(roi_align_rotated(input, rois.to(at::kDouble), {2, 2}),
                    "roi_align_rotated: expected rois to have the same dtype as input (Float), but got Double");
  EXPECT_MMCV_ERROR(roi_align_rotated(input, rois, {0, 2}), "roi_align_rotated: expected output_size to be positive");
  EXPECT_MMCV_ERROR(roi_align_rotated(input, rois, {2, 2, 2}), "roi_align_rotated: expected output_size to be an int or a pair");
  EXPECT_MMCV_ERROR(roi_align_rotated(input, rois, {2, 2}, 1.0, -1),
                    "roi_align_rotated: expected sampling_ratio to be non-negative, but got -1");
  EXPECT_MMCV_ERROR(roi_align_rotated(input, rois, {2, 2}, NAN), "roi_align_rotated: expected spatial_scale to be finite");
  EXPECT_MMCV_ERROR(roi_align_rotated(at::randn({1, 3, 0, 5}, f32()), rois, {2, 2}),
                    "roi_align_rotated: expected input height to be positive, but got 0");
  auto bad_batch = rois.clone();
  bad_batch[1][0] = 2;
  EXPECT_MMCV_ERROR(roi_align_rotated(input, bad_batch, {2, 2}), "roi_align_rotated: expected rois[:, 0] (batch index)");
  auto nan = rois.clone();
  nan[0][5] = NAN;
  EXPECT_MMCV_ERROR(roi_align_rotated(input, nan, {2, 2}), "roi_align_rotated: expected rois to contain only finite values");
  auto negative = rois.clone();
  negative[2][3] = -4;
  EXPECT_MMCV_ERROR(roi_align_rotated(input, negative, {2, 2}, 1.0, 0, /*aligned=*/true),
                    "roi_align_rotated: expected the scaled width and height of every roi (aligned=True) to be in "
                    "[0, inf], but got -4");
  EXPECT_NO_THROW(roi_align_rotated(input, negative, {2, 2}, 1.0, 0, /*aligned=*/false));  // clamped to 1
  if (device().is_cuda()) {
    EXPECT_MMCV_ERROR(roi_align_rotated(input, rois.cpu(), {2, 2}),
                      "roi_align_rotated: expected rois to be on the same device as input");
  }
}

TEST_P(roi_align_rotated_test, module_mirrors_mmcv) {
  mmcv::ops::RoIAlignRotated layer({2, 3}, 0.5, 2, /*aligned=*/false, /*clockwise=*/true);
  auto input = at::randn({1, 3, 8, 9}, f32());
  auto rois = random_rois(4, 1, 18, 16, f32());
  EXPECT_ALLEQUAL(layer(input, rois), mmcv::ops::roi_align_rotated(input, rois, {2, 3}, 0.5, 2, false, true));
  EXPECT_EQ(layer->sampling_ratio, 2);
  EXPECT_TRUE(layer->clockwise);
  std::ostringstream os;
  layer->pretty_print(os);
  EXPECT_EQ(os.str(), "mmcv::ops::RoIAlignRotated(output_size=(2, 3), spatial_scale=0.5, sampling_ratio=2, "
                      "aligned=False, clockwise=True)");
  mmcv::ops::RoIAlignRotated square(7, 0.125);
  EXPECT_EQ(square->output_size[0], 7);
  EXPECT_EQ(square->output_size[1], 7);
  EXPECT_TRUE(square->aligned);
  EXPECT_FALSE(square->clockwise);
  EXPECT_MMCV_ERROR(mmcv::ops::RoIAlignRotated({0, 2}, 1.0), "RoIAlignRotated: expected output_size to be positive");
  EXPECT_MMCV_ERROR(mmcv::ops::RoIAlignRotated(7, 1.0, -2), "RoIAlignRotated: expected sampling_ratio to be non-negative");
}

TEST_P(roi_align_rotated_test, nan_features_reach_exactly_the_bins_mmcv_reads) {
  // A NaN pixel reaches every bin with a sample whose 4 taps include it, even with weight 0
  // (0 * NaN = NaN, as MMCV's CPU kernel), and a sample outside the map reads pixel (0, 0) of its
  // image with weight 0 (MMCV's CPU pre_calc), so a NaN there reaches the bins of RoI 1.
  auto input = at::randn({1, 2, 8, 9}, f64());
  input[0][1][3][4] = NAN;
  input[0][0][0][0] = NAN;
  // RoI 0 samples exactly on integer coordinates (angle 0, aligned=false, 1 sample per bin);
  // RoI 1 lies outside the map; RoI 2 is random.
  auto rois = at::tensor({0.0, 4.5, 3.5, 3.0, 3.0, 0.0, 0.0, -50.0, -50.0, 4.0, 4.0, 0.3, 0.0, 4.2, 2.9, 5.0, 3.0, 0.7},
                         f64())
                  .view({3, 6});
  for (int64_t sr : {1, 2}) {
    auto out = mmcv::ops::roi_align_rotated(input, rois, {3, 3}, 1.0, sr, false, false);
    auto ref = loop_reference(input, rois, 3, 3, 1.0, sr, false, false).out;
    EXPECT_ALLCLOSE(out, ref);  // NaN where MMCV has NaN, nowhere else
    EXPECT_TRUE(at::isnan(out[0][1]).any().item<bool>());
    EXPECT_TRUE(at::isnan(out[1][0]).all().item<bool>());   // outside: NaN from pixel (0, 0), channel 0
    EXPECT_FALSE(at::isnan(out[1][1]).any().item<bool>());  // channel 1 has no NaN at (0, 0)
  }
}

MMCV_INSTANTIATE_DEVICES(roi_align_rotated_test);

}  // namespace
