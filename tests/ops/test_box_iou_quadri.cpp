// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/box_iou_quadri.hpp (mmcv.ops.box_iou_quadri).

#include <mmcv/ops/box_iou_quadri.hpp>

#include <cmath>
#include <string>

#include "common/test_utils.hpp"
#include "ops/polygon_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

// Quads from clustered rotated boxes with each corner jittered by up to `jitter` px (convex,
// counter-clockwise with y up, not parallelograms).
at::Tensor random_quads(int64_t n, at::TensorOptions opt, double jitter = 2.0, double extent = 60.0,
                        int64_t clusters = 3) {
  auto d = at::TensorOptions().dtype(at::kDouble);
  auto centres = at::rand({clusters, 2}, d) * extent;
  auto pick = at::randint(clusters, {n}, d.dtype(at::kLong));
  auto c = centres.index_select(0, pick) + at::randn({n, 2}, d) * (extent / 12);
  auto wh = at::rand({n, 2}, d) * (extent / 3) + 2.0;
  auto a = (at::rand({n}, d) * 2 - 1) * M_PI;
  auto ca = a.cos(), sa = a.sin();
  std::vector<at::Tensor> pts;
  for (auto [ox, oy] : std::vector<std::pair<double, double>>{{-0.5, 0.5}, {-0.5, -0.5}, {0.5, -0.5}, {0.5, 0.5}}) {
    auto dx = wh.select(1, 0) * ox, dy = wh.select(1, 1) * oy;
    pts.push_back(c.select(1, 0) + ca * dx - sa * dy + (at::rand({n}, d) - 0.5) * 2 * jitter);
    pts.push_back(c.select(1, 1) + sa * dx + ca * dy + (at::rand({n}, d) - 0.5) * 2 * jitter);
  }
  return at::stack(pts, 1).to(opt.dtype()).to(opt.device());
}

at::Tensor reference(const at::Tensor& b1, const at::Tensor& b2, const std::string& mode, bool aligned) {
  return polygon_ref::pairwise(b1, b2, aligned, [&](const std::vector<double>& a, const std::vector<double>& b) {
    return polygon_ref::quadri_iou(a, b, mode == "iof");
  });
}

// Reverse the point order of quads: (p1, p2, p3, p4) -> (p1, p4, p3, p2).
at::Tensor reversed(const at::Tensor& q) {
  auto idx = at::tensor({0, 1, 6, 7, 4, 5, 2, 3}, at::TensorOptions().dtype(at::kLong).device(q.device()));
  return q.index_select(1, idx);
}

class box_iou_quadri_test : public DeviceTest {};

TEST_P(box_iou_quadri_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("box_iou_quadri");
  ASSERT_EQ(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto out = mmcv::ops::box_iou_quadri(dev(c.at("in.bboxes1")), dev(c.at("in.bboxes2")), c.param_string("mode"),
                                         c.param_bool("aligned"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.ious").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.ious"));
  }
}

TEST_P(box_iou_quadri_test, matches_mmcv_unit_test_values) {
  // mmcv/tests/test_ops/test_box_iou_quadri.py (atol 1e-4 there too). Row 2 of boxes1 is a
  // kite given clockwise (y up), the others counter-clockwise.
  auto b1 = at::tensor({1.0, 1.0, 3.0, 4.0, 4.0, 4.0, 4.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 2.0, 3.0, 1.0,
                        7.0, 7.0, 8.0, 8.0, 9.0, 7.0, 8.0, 6.0},
                       f32())
                .view({3, 8});
  auto b2 = at::tensor({0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0, 2.0, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 1.0,
                        7.0, 6.0, 7.0, 8.0, 9.0, 8.0, 9.0, 6.0},
                       f32())
                .view({3, 8});
  const mmcv_test::Tol t{0, 1e-4};
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(b1, b2),
                  at::tensor({0.0714, 1.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.5}, f32()).view({3, 3}), t);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(b1, b2, "iou", true), at::tensor({0.0714, 0.5, 0.5}, f32()), t);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(b1, b2, "iof"),
                  at::tensor({0.1111, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0}, f32()).view({3, 3}), t);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(b1, b2, "iof", true), at::tensor({0.1111, 1.0, 1.0}, f32()), t);
}

TEST_P(box_iou_quadri_test, matches_float64_loop_reference_of_mmcvs_rule) {
  for (bool aligned : {false, true})
    for (const char* mode : {"iou", "iof"}) {
      SCOPED_TRACE(std::string(mode) + " aligned=" + std::to_string(aligned));
      auto both = random_quads(aligned ? 80 : 68, f64());
      auto b1 = both.narrow(0, 0, 40), b2 = both.narrow(0, 40, aligned ? 40 : 28);
      const auto expected = reference(b1, b2, mode, aligned);
      ASSERT_GT((expected > 0.05).sum().item<int64_t>(), aligned ? 3 : 60);
      auto out = mmcv::ops::box_iou_quadri(b1, b2, mode, aligned);
      EXPECT_EQ(out.scalar_type(), at::kDouble);
      EXPECT_ALLCLOSE(out, expected);
      auto b1f = b1.to(at::kFloat), b2f = b2.to(at::kFloat);
      auto out32 = mmcv::ops::box_iou_quadri(b1f, b2f, mode, aligned);
      EXPECT_EQ(out32.scalar_type(), at::kFloat);
      EXPECT_ALLCLOSE(out32, reference(b1f, b2f, mode, aligned), mmcv_test::tol_for(at::kFloat));
    }
}

TEST_P(box_iou_quadri_test, mmcv_rule_is_not_the_true_overlap_for_skewed_quads) {
  // A skewed quad (not a parallelogram): MMCV's vertex test uses the AB/AD projections of q1
  // (x in [0, 10]), so q2's corner (11, 5), inside q1, is not a candidate and the result is
  // below the exact overlap (0.0137 vs 0.0172); we reproduce MMCV, not the exact area.
  auto q1 = at::tensor({0.0, 0.0, 10.0, 0.0, 12.0, 8.0, 1.0, 10.0}, f64()).view({1, 8});
  auto q2 = at::tensor({11.0, 5.0, 16.0, 5.0, 16.0, 9.0, 11.0, 9.0}, f64()).view({1, 8});
  const double mmcv_rule = reference(q1, q2, "iou", true).item<double>();
  const auto p = [](const at::Tensor& q) {
    polygon_ref::Poly r;
    auto c = q.cpu().contiguous();
    for (int i = 0; i < 4; ++i) r.push_back({c[0][2 * i].item<double>(), c[0][2 * i + 1].item<double>()});
    return r;
  };
  const double inter = polygon_ref::convex_intersection_area(p(q1), p(q2));
  const double exact = inter / (polygon_ref::fan_area(p(q1)) + polygon_ref::fan_area(p(q2)) - inter);
  ASSERT_GT(std::abs(mmcv_rule - exact), 1e-3);  // the two rules really differ here
  EXPECT_NEAR(mmcv::ops::box_iou_quadri(q1, q2, "iou", true).item<double>(), mmcv_rule, 1e-12);
}

TEST_P(box_iou_quadri_test, point_order_and_non_convex_quads_follow_mmcv) {
  auto both = random_quads(60, f64());
  auto b1 = both.narrow(0, 0, 30), b2 = both.narrow(0, 30, 30);
  auto out = mmcv::ops::box_iou_quadri(b1, b2);
  // Reversing the point order of either side changes nothing for these convex quads.
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(reversed(b1), b2), out);
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(b1, reversed(b2)), out);
  // Non-convex ("dart") and self-intersecting ("bow-tie") quads: MMCV's rule applied as is.
  auto weird = at::tensor(std::vector<double>{0, 0, 10, 0, 3, 3, 0, 10,      // dart, reflex vertex 3
                                              0, 0, 10, 10, 10, 0, 0, 10,    // bow-tie
                                              2, 2, 12, 2, 12, 12, 2, 12,    // square
                                              0, 0, 10, 0, 10, 10, 7, 3},    // dart, fan area > hull
                          f64())
                   .view({4, 8});
  auto w = mmcv::ops::box_iou_quadri(weird, weird);
  EXPECT_ALLCLOSE(w, reference(weird, weird, "iou", false));
  // The first dart against the last: MMCV's hull (100) equals A1 + A2 (30 + 70, fans with
  // |cross|), so the union is exactly 0 and the IoU is +inf, as MMCV computes it.
  EXPECT_TRUE(std::isinf(w[0][3].item<double>()));
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(weird, weird, "iof"), reference(weird, weird, "iof", false));
}

TEST_P(box_iou_quadri_test, degenerate_pairs_are_finite_like_mmcv) {
  auto q = at::tensor(std::vector<double>{0, 0, 4, 0, 4, 3, 0, 3,         // rectangle
                                          0, 0, 4, 0, 4, 3, 0, 3,         // identical
                                          4, 0, 8, 0, 8, 3, 4, 3,         // shares an edge
                                          4, 3, 8, 3, 8, 6, 4, 6,         // shares a corner
                                          1, 1, 1, 1, 1, 1, 1, 1,         // a point (area 0)
                                          0, 0, 2, 2, 4, 4, 6, 6,         // collinear (area 0)
                                          1, 1, 3, 1, 3, 2, 1, 2,         // inside the rectangle
                                          0, 0, 4, 1e-7, 4, 3, 0, 3},     // nearly the rectangle
                      f64())
               .view({8, 8});
  for (auto dt : {at::kFloat, at::kDouble}) {
    SCOPED_TRACE(c10::toString(dt));
    auto qd = q.to(dt).to(device());
    auto out = mmcv::ops::box_iou_quadri(qd, qd);
    ASSERT_TRUE(at::isfinite(out).all().item<bool>()) << out;
    EXPECT_ALLCLOSE(out, reference(qd, qd, "iou", false), mmcv_test::tol_for(at::kFloat));
    EXPECT_NEAR(out[0][1].item<double>(), 1.0, 1e-6);
    EXPECT_NEAR(out[0][2].item<double>(), 0.0, 1e-6);
    EXPECT_NEAR(out[0][3].item<double>(), 0.0, 1e-6);
    EXPECT_EQ(out[4].abs().sum().item<double>(), 0.0);  // area rule
    EXPECT_EQ(out[5].abs().sum().item<double>(), 0.0);
    EXPECT_NEAR(out[0][6].item<double>(), 2.0 / 12.0, 1e-6);
    EXPECT_NEAR(out[0][7].item<double>(), 1.0, 1e-6);
  }
}

TEST_P(box_iou_quadri_test, tiles_and_chunks_agree) {
  auto b = random_quads(150, f32(), 1.0, 20.0, 1);  // > 8192 candidate pairs: several chunks
  auto full = mmcv::ops::box_iou_quadri(b, b);
  auto halves = at::cat({mmcv::ops::box_iou_quadri(b.narrow(0, 0, 75), b),
                         mmcv::ops::box_iou_quadri(b.narrow(0, 75, 75), b)}, 0);
  EXPECT_ALLEQUAL(full, halves);
  EXPECT_ALLEQUAL(mmcv::ops::box_iou_quadri(b, b, "iou", true), full.diagonal());
}

TEST_P(box_iou_quadri_test, default_arguments_shapes_and_views) {
  auto b1 = random_quads(5, f32()), b2 = random_quads(3, f32());
  auto out = mmcv::ops::box_iou_quadri(b1, b2);
  EXPECT_EQ(out.sizes(), at::IntArrayRef({5, 3}));
  EXPECT_ALLEQUAL(out, mmcv::ops::box_iou_quadri(b1, b2, "iou", false));
  EXPECT_EQ(mmcv::ops::box_iou_quadri(b1, b1, "iou", true).sizes(), at::IntArrayRef({5}));
  EXPECT_ALLCLOSE(mmcv::ops::box_iou_quadri(b1.t().contiguous().t(), b2), out);
  EXPECT_FALSE(mmcv::ops::box_iou_quadri(b1.clone().requires_grad_(true), b2).requires_grad());
}

TEST_P(box_iou_quadri_test, empty_inputs) {
  auto e = at::empty({0, 8}, f64());
  auto b = random_quads(2, f64());
  EXPECT_EQ(mmcv::ops::box_iou_quadri(e, b).sizes(), at::IntArrayRef({0, 2}));
  EXPECT_EQ(mmcv::ops::box_iou_quadri(b, e).sizes(), at::IntArrayRef({2, 0}));
  auto a = mmcv::ops::box_iou_quadri(e, e, "iof", true);
  EXPECT_EQ(a.sizes(), at::IntArrayRef({0}));
  EXPECT_EQ(a.scalar_type(), at::kDouble);
  EXPECT_EQ(a.device(), device());
}

TEST_P(box_iou_quadri_test, bad_inputs_raise_clear_errors) {
  using mmcv::ops::box_iou_quadri;
  auto b = random_quads(3, f32());
  EXPECT_MMCV_ERROR(box_iou_quadri(b.narrow(1, 0, 5), b),
                    "box_iou_quadri: expected bboxes1 to have shape [N, 8], but got [3, 5]");
  // Issue 12: N * M of expanded (stride-0) inputs is checked up front, with our message.
  const auto huge = b.narrow(0, 0, 1).expand({int64_t{1} << 40, 8});
  EXPECT_MMCV_ERROR(box_iou_quadri(huge, huge), "box_iou_quadri: the output [1099511627776, 1099511627776]");
  EXPECT_MMCV_ERROR(box_iou_quadri(b, b.narrow(0, 0, 1), "iof", true),
                    "box_iou_quadri: expected bboxes2 to have shape [N, 8] (with N = 3), but got [1, 8]");
  EXPECT_MMCV_ERROR(box_iou_quadri(b.to(at::kLong), b.to(at::kLong)),
                    "box_iou_quadri: expected bboxes1 to have a floating-point dtype");
  EXPECT_MMCV_ERROR(box_iou_quadri(b.to(at::kDouble), b),
                    "box_iou_quadri: expected bboxes2 to have the same dtype as bboxes1 (Double), but got Float");
  EXPECT_MMCV_ERROR(box_iou_quadri(b, b, "IoU"),
                    "box_iou_quadri: expected mode to be one of {\"iou\", \"iof\"}, but got \"IoU\"");
  if (device().is_cuda()) {
    EXPECT_MMCV_ERROR(box_iou_quadri(b, b.cpu()), "box_iou_quadri: expected bboxes2 to be on the same device");
  }
}

TEST_P(box_iou_quadri_test, non_finite_values_follow_mmcv) {
  // MMCV has no checks: a NaN/Inf coordinate makes the pair's centre shift and both areas NaN,
  // so every pair involving that quad is NaN (iou and iof); other pairs are unchanged.
  auto good = random_quads(4, f32());
  auto bad = good.clone();
  bad[1][3] = NAN;
  bad[3][6] = INFINITY;
  auto out = mmcv::ops::box_iou_quadri(bad, good);
  auto clean = mmcv::ops::box_iou_quadri(good, good);
  for (int64_t r : {1, 3}) EXPECT_TRUE(at::isnan(out[r]).all().item<bool>()) << out;
  for (int64_t r : {0, 2}) EXPECT_ALLEQUAL(out[r], clean[r]);
  EXPECT_TRUE(at::isnan(mmcv::ops::box_iou_quadri(good, bad, "iof").select(1, 3)).all().item<bool>());
  auto aligned = mmcv::ops::box_iou_quadri(bad, good, "iou", true);
  EXPECT_TRUE(std::isnan(aligned[1].item<float>()) && std::isnan(aligned[3].item<float>()));
  EXPECT_EQ(aligned[0].item<float>(), clean[0][0].item<float>());
}

MMCV_INSTANTIATE_DEVICES(box_iou_quadri_test);

}  // namespace
