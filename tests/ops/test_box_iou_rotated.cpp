// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/box_iou_rotated.hpp (mmcv.ops.box_iou_rotated).

#include <mmcv/ops/box_iou_rotated.hpp>

#include <cmath>
#include <string>

#include "common/test_utils.hpp"
#include "ops/polygon_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

// Clustered rotated boxes (cx, cy, w, h, angle) so that many pairs overlap, on CPU then moved.
at::Tensor random_rotated(int64_t n, at::TensorOptions opt, double extent = 60.0, int64_t clusters = 4) {
  auto cpu = opt.device(at::kCPU);
  auto centres = at::rand({clusters, 2}, cpu) * extent;
  auto pick = at::randint(clusters, {n}, cpu.dtype(at::kLong));
  auto xy = centres.index_select(0, pick) + at::randn({n, 2}, cpu) * (extent / 12);
  auto wh = at::rand({n, 2}, cpu) * (extent / 3) + 1.0;
  auto a = (at::rand({n, 1}, cpu) * 2 - 1) * M_PI;
  return at::cat({xy, wh, a}, 1).to(opt.device());
}

at::Tensor reference(const at::Tensor& b1, const at::Tensor& b2, const std::string& mode, bool aligned,
                     bool clockwise) {
  return polygon_ref::pairwise(b1, b2, aligned, [&](const std::vector<double>& a, const std::vector<double>& b) {
    return polygon_ref::rotated_iou(a, b, mode == "iof", clockwise);
  });
}

class box_iou_rotated_test : public DeviceTest {};

TEST_P(box_iou_rotated_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("box_iou_rotated");
  ASSERT_EQ(names.size(), 8u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto out = mmcv::ops::box_iou_rotated(dev(c.at("in.bboxes1")), dev(c.at("in.bboxes2")), c.param_string("mode"),
                                          c.param_bool("aligned"), c.param_bool("clockwise"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.ious").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.ious"));
  }
}

TEST_P(box_iou_rotated_test, matches_mmcv_unit_test_values) {
  // mmcv/tests/test_ops/test_box_iou_rotated.py (CPU values, atol 1e-4 there too).
  auto b1 = at::tensor({1.0, 1.0, 3.0, 4.0, 0.5, 2.0, 2.0, 3.0, 4.0, 0.6, 7.0, 7.0, 8.0, 8.0, 0.4}, f32()).view({3, 5});
  auto b2 = at::tensor({0.0, 2.0, 2.0, 5.0, 0.3, 2.0, 1.0, 3.0, 3.0, 0.5, 5.0, 5.0, 6.0, 7.0, 0.4}, f32()).view({3, 5});
  auto expect = at::tensor({0.3708, 0.4351, 0.0, 0.1104, 0.4487, 0.0424, 0.0, 0.0, 0.3622}, f32()).view({3, 3});
  auto expect_aligned = at::tensor({0.3708, 0.4487, 0.3622}, f32());
  const mmcv_test::Tol t{0, 1e-4};
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(b1, b2), expect, t);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(b1, b2, "iou", true), expect_aligned, t);
  // The counter-clockwise convention with negated angles gives the same values.
  auto flip = at::tensor({1.0, 1.0, 1.0, 1.0, -1.0}, f32());
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(b1 * flip, b2 * flip, "iou", false, false), expect, t);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(b1 * flip, b2 * flip, "iou", true, false), expect_aligned, t);
}

TEST_P(box_iou_rotated_test, matches_float64_loop_reference) {
  for (bool aligned : {false, true})
    for (bool clockwise : {true, false})
      for (const char* mode : {"iou", "iof"}) {
        SCOPED_TRACE(std::string(mode) + " aligned=" + std::to_string(aligned) + " cw=" + std::to_string(clockwise));
        auto both = random_rotated(aligned ? 82 : 70, f64());  // one set of clusters for both sides
        auto b1 = both.narrow(0, 0, 41);
        auto b2 = both.narrow(0, 41, aligned ? 41 : 29);
        const auto expected = reference(b1, b2, mode, aligned, clockwise);
        ASSERT_GT((expected > 0.05).sum().item<int64_t>(), aligned ? 3 : 60);  // the test exercises overlaps
        auto out = mmcv::ops::box_iou_rotated(b1, b2, mode, aligned, clockwise);
        EXPECT_EQ(out.scalar_type(), at::kDouble);
        EXPECT_ALLCLOSE(out, expected);
        auto out32 = mmcv::ops::box_iou_rotated(b1.to(at::kFloat), b2.to(at::kFloat), mode, aligned, clockwise);
        EXPECT_EQ(out32.scalar_type(), at::kFloat);
        EXPECT_ALLCLOSE(out32, expected, mmcv_test::tol_for(at::kFloat));
      }
}

TEST_P(box_iou_rotated_test, degenerate_pairs_are_finite_like_mmcv) {
  // Rows: identical boxes, touching edges, corner contact, zero width, zero height, a box inside
  // another, nearly parallel long edges, both sides negative (same rectangle as positive), one
  // side negative (area < 0: MMCV's rule gives 0), a needle.
  auto b1 = at::tensor(std::vector<double>{10, 10, 8, 4, 0.3,    // identical
                        0, 0, 2, 2, 0,        // touching edge with (2, 0)
                        0, 0, 2, 2, 0,        // corner contact with (2, 2)
                        5, 5, 0, 3, 0.2,      // zero width
                        5, 5, 3, 0, 0.2,      // zero height
                        0, 0, 10, 10, 0.7,    // contains the small box
                        0, 0, 100, 1, 0,      // nearly parallel to the next
                        3, 4, -6, -2, 0.4,    // negative w and h
                        3, 4, -6, 2, 0.4,     // one negative side
                        0, 0, 50, 1e-3, 0.1}, // needle
                       f64())
                .view({10, 5});
  auto b2 = at::tensor(std::vector<double>{10, 10, 8, 4, 0.3,
                        2, 0, 2, 2, 0,
                        2, 2, 2, 2, 0,
                        5, 5, 3, 3, 0,
                        5, 5, 3, 3, 0,
                        1, 1, 2, 3, -0.2,
                        0, 0.5, 100, 1, 1e-6,
                        3, 4, 6, 2, 0.4,
                        3, 4, 6, 2, 0.4,
                        0, 0, 50, 1e-3, 0.1 + 1e-7},
                       f64())
                .view({10, 5});
  for (auto dt : {at::kFloat, at::kDouble}) {
    SCOPED_TRACE(c10::toString(dt));
    auto out = mmcv::ops::box_iou_rotated(b1.to(dt), b2.to(dt), "iou", /*aligned=*/true);
    ASSERT_TRUE(at::isfinite(out).all().item<bool>()) << out;
    auto expected = reference(b1.to(dt), b2.to(dt), "iou", true, true);  // the rounded inputs
    EXPECT_ALLCLOSE(out, expected, mmcv_test::tol_for(at::kFloat)) << out;
    EXPECT_NEAR(out[0].item<double>(), 1.0, 1e-5);  // identical (mmcv#2621 gave 0.333 on CUDA)
    EXPECT_EQ(out[3].item<double>(), 0.0);          // zero-area rule
    EXPECT_EQ(out[4].item<double>(), 0.0);
    EXPECT_NEAR(out[7].item<double>(), 1.0, 1e-5);  // (-w, -h) is the same rectangle
    EXPECT_EQ(out[8].item<double>(), 0.0);          // w * h < 0
    auto all = mmcv::ops::box_iou_rotated(b1.to(dt), b2.to(dt), "iof");
    ASSERT_TRUE(at::isfinite(all).all().item<bool>());
  }
}

TEST_P(box_iou_rotated_test, identical_boxes_give_one_at_any_angle) {
  auto a = at::linspace(-M_PI, M_PI, 73, f32()).unsqueeze(1);
  auto n = a.size(0);
  auto base = at::tensor({180.6422271729, 136.3633728027, 180.6422271729, 136.3633728027}, f32());
  auto boxes = at::cat({base.view({1, 4}).expand({n, 4}), a}, 1);
  auto out = mmcv::ops::box_iou_rotated(boxes, boxes, "iou", true);
  EXPECT_ALLCLOSE(out, at::ones({n}, f32()), mmcv_test::Tol{0, 1e-5});
  // The box of mmcv#2621 at the origin.
  auto b = at::tensor({0.0, 0.0, 180.6422271729, 136.3633728027, 0.9559648633}, f32()).view({1, 5});
  EXPECT_NEAR(mmcv::ops::box_iou_rotated(b, b).item<float>(), 1.f, 1e-5);
}

TEST_P(box_iou_rotated_test, tiles_and_chunks_agree_with_single_pass) {
  // 200 x 200 heavily overlapping boxes (> 8192 candidate pairs: several kernel chunks) and a
  // wide matrix whose rows are split over row tiles (M > 2^20 / N).
  auto b = random_rotated(200, f32(), 30.0, 1);
  auto full = mmcv::ops::box_iou_rotated(b, b);
  auto rows = at::cat({mmcv::ops::box_iou_rotated(b.narrow(0, 0, 100), b),
                       mmcv::ops::box_iou_rotated(b.narrow(0, 100, 100), b)}, 0);
  EXPECT_ALLEQUAL(full, rows);
  auto diag = mmcv::ops::box_iou_rotated(b, b, "iou", true);
  EXPECT_ALLEQUAL(diag, full.diagonal());
  auto wide = random_rotated(300000, f32(), 4000.0, 64);
  auto few = wide.narrow(0, 1000, 5);
  auto out = mmcv::ops::box_iou_rotated(few, wide);  // 5 x 300000: rows in tiles of 3
  ASSERT_EQ(out.sizes(), at::IntArrayRef({5, 300000}));
  for (int64_t r = 0; r < 5; ++r) EXPECT_NEAR(out[r][1000 + r].item<float>(), 1.f, 1e-5);
  auto cand = (out > 0).nonzero();
  auto sub = wide.index_select(0, cand.select(1, 1));
  auto expected = reference(few.index_select(0, cand.select(1, 0)), sub, "iou", true, true);
  EXPECT_ALLCLOSE(out.index({cand.select(1, 0), cand.select(1, 1)}), expected, mmcv_test::tol_for(at::kFloat));
}

TEST_P(box_iou_rotated_test, default_arguments_and_shapes) {
  auto b1 = random_rotated(6, f32());
  auto b2 = random_rotated(4, f32());
  auto out = mmcv::ops::box_iou_rotated(b1, b2);
  EXPECT_EQ(out.sizes(), at::IntArrayRef({6, 4}));
  EXPECT_ALLEQUAL(out, mmcv::ops::box_iou_rotated(b1, b2, "iou", false, true));
  EXPECT_EQ(mmcv::ops::box_iou_rotated(b1, b1, "iou", true).sizes(), at::IntArrayRef({6}));  // (N,), not (N, 1)
  // Non-contiguous inputs.
  auto b1t = b1.t().contiguous().t();
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(b1t, b2), out);
  // Not differentiable: no graph is recorded.
  auto g = b1.clone().requires_grad_(true);
  EXPECT_FALSE(mmcv::ops::box_iou_rotated(g, b2).requires_grad());
}

TEST_P(box_iou_rotated_test, empty_inputs) {
  auto e = at::empty({0, 5}, f32());
  auto b = random_rotated(3, f32());
  EXPECT_EQ(mmcv::ops::box_iou_rotated(e, b).sizes(), at::IntArrayRef({0, 3}));
  EXPECT_EQ(mmcv::ops::box_iou_rotated(b, e).sizes(), at::IntArrayRef({3, 0}));
  auto a = mmcv::ops::box_iou_rotated(e, e, "iof", true, false);
  EXPECT_EQ(a.sizes(), at::IntArrayRef({0}));
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  EXPECT_EQ(a.device(), device());
}

TEST_P(box_iou_rotated_test, bad_inputs_raise_clear_errors) {
  auto b = random_rotated(3, f32());
  using mmcv::ops::box_iou_rotated;
  EXPECT_MMCV_ERROR(box_iou_rotated(b.narrow(1, 0, 4), b),
                    "box_iou_rotated: expected bboxes1 to have shape [N, 5], but got [3, 4]");
  EXPECT_MMCV_ERROR(box_iou_rotated(b, b.view({-1})), "box_iou_rotated: expected bboxes2 to have shape [M, 5]");
  // Issue 12: N * M of expanded (stride-0) inputs is checked up front, with our message.
  const auto huge = b.narrow(0, 0, 1).expand({int64_t{1} << 40, 5});
  EXPECT_MMCV_ERROR(box_iou_rotated(huge, huge), "box_iou_rotated: the output [1099511627776, 1099511627776]");
  EXPECT_MMCV_ERROR(box_iou_rotated(b, b.narrow(0, 0, 2), "iou", true),
                    "box_iou_rotated: expected bboxes2 to have shape [N, 5] (with N = 3), but got [2, 5]");
  EXPECT_MMCV_ERROR(box_iou_rotated(b.to(at::kInt), b.to(at::kInt)),
                    "box_iou_rotated: expected bboxes1 to have a floating-point dtype");
  EXPECT_MMCV_ERROR(box_iou_rotated(b, b.to(at::kDouble)),
                    "box_iou_rotated: expected bboxes2 to have the same dtype as bboxes1 (Float), but got Double");
  EXPECT_MMCV_ERROR(box_iou_rotated(b, b, "giou"),
                    "box_iou_rotated: expected mode to be one of {\"iou\", \"iof\"}, but got \"giou\"");
  if (device().is_cuda()) {
    EXPECT_MMCV_ERROR(box_iou_rotated(b, b.cpu()), "box_iou_rotated: expected bboxes2 to be on the same device");
  }
}

TEST_P(box_iou_rotated_test, non_finite_values_follow_mmcv) {
  // MMCV has no checks: a box with a NaN/Inf value has intersection 0 with everything (every
  // vertex test fails), so its IoU is 0 / union; a NaN w or h makes that union (iou) or area
  // (iof) NaN. A pair with an area below 1e-14 returns 0 before any of that.
  auto good = at::tensor({10.0, 10.0, 8.0, 4.0, 0.3, 11.0, 10.0, 6.0, 4.0, 0.1, 10.0, 10.0, 0.0, 4.0, 0.0}, f32())
                  .view({3, 5});  // two overlapping boxes and a zero-width one
  auto bad = at::tensor({10.0, 10.0, NAN, 4.0, 0.3,       // NaN w
                         NAN, 10.0, 8.0, 4.0, 0.3,        // NaN centre
                         10.0, 10.0, 8.0, 4.0, NAN,       // NaN angle
                         10.0, 10.0, INFINITY, 4.0, 0.3,  // Inf w
                         10.0, 10.0, 8.0, 4.0, INFINITY}, // Inf angle
                        f32())
                 .view({5, 5});
  const float nan = NAN;
  auto expected_rows = at::tensor({nan, nan, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}, f32())
                           .view({5, 3});
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(bad, good), expected_rows);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(bad, good, "iof"), expected_rows);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(good, bad), expected_rows.t());
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(good, bad, "iof"), at::zeros({3, 5}, f32()));  // 0 / area1
  // Other entries are unchanged, bit for bit.
  auto mixed = at::cat({good, bad}, 0);
  EXPECT_ALLEQUAL(mmcv::ops::box_iou_rotated(mixed, mixed).narrow(0, 0, 3).narrow(1, 0, 3),
                  mmcv::ops::box_iou_rotated(good, good));
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_rotated(bad, bad, "iou", true), at::tensor({nan, 0.f, 0.f, 0.f, 0.f}, f32()));
}

MMCV_INSTANTIATE_DEVICES(box_iou_rotated_test);

}  // namespace
