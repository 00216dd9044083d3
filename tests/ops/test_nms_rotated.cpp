// SPDX-License-Identifier: Apache-2.0
// Tests for nms_rotated / nms_quadri in include/mmcv/ops/nms.hpp (mmcv.ops.nms_rotated,
// mmcv.ops.nms_quadri) and batched_nms with those types.

#include <mmcv/ops/nms.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/polygon_reference.hpp"

namespace {

using mmcv::ops::NmsConfig;
using mmcv_test::DeviceTest;

at::Tensor clustered_rotated(int64_t n, at::TensorOptions opt, double extent = 200.0, int64_t clusters = 6) {
  auto d = at::TensorOptions().dtype(at::kDouble);
  auto centres = at::rand({clusters, 2}, d) * extent;
  auto pick = at::randint(clusters, {n}, d.dtype(at::kLong));
  auto xy = centres.index_select(0, pick) + at::randn({n, 2}, d) * 8;
  auto wh = at::rand({n, 2}, d) * 30 + 4;
  auto a = (at::rand({n, 1}, d) - 0.5) * M_PI;
  return at::cat({xy, wh, a}, 1).to(opt.dtype()).to(opt.device());
}

// Jittered corners of clustered rotated boxes.
at::Tensor clustered_quads(int64_t n, at::TensorOptions opt) {
  auto b = clustered_rotated(n, at::TensorOptions().dtype(at::kDouble));
  auto c = b.select(1, 4).cos(), s = b.select(1, 4).sin();
  std::vector<at::Tensor> pts;
  for (auto [ox, oy] : std::vector<std::pair<double, double>>{{-0.5, 0.5}, {-0.5, -0.5}, {0.5, -0.5}, {0.5, 0.5}}) {
    auto dx = b.select(1, 2) * ox, dy = b.select(1, 3) * oy;
    pts.push_back(b.select(1, 0) + c * dx - s * dy + (at::rand({n}, at::kDouble) - 0.5) * 3);
    pts.push_back(b.select(1, 1) + s * dx + c * dy + (at::rand({n}, at::kDouble) - 0.5) * 3);
  }
  return at::stack(pts, 1).to(opt.dtype()).to(opt.device());
}

at::Tensor ref_keep(const at::Tensor& dets, const at::Tensor& scores, double thr, bool quadri, bool clockwise = true) {
  // The threshold reaches MMCV's kernel as float32.
  const double t = static_cast<float>(thr);
  auto keep = polygon_ref::greedy_nms(dets, scores, t, [&](const std::vector<double>& a, const std::vector<double>& b) {
    return quadri ? polygon_ref::quadri_iou(a, b, false) : polygon_ref::rotated_iou(a, b, false, clockwise);
  });
  return at::tensor(keep, at::kLong);
}

class nms_rotated_test : public DeviceTest {};

TEST_P(nms_rotated_test, matches_mmcv_reference) {
  for (const char* op : {"nms_rotated", "nms_quadri"}) {
    const auto names = mmcv_test::cases_for_op(op);
    ASSERT_EQ(names.size(), std::string(op) == "nms_rotated" ? 6u : 4u);
    for (const auto& name : names) {
      SCOPED_TRACE(name);
      auto c = mmcv_test::load_case(name);
      const auto dets = dev(c.at("in.dets")), scores = dev(c.at("in.scores"));
      std::optional<at::Tensor> labels;
      if (c.has("in.labels")) labels = dev(c.at("in.labels"));
      const double thr = c.param_double("iou_threshold");
      auto [out, keep] = std::string(op) == "nms_rotated"
                             ? mmcv::ops::nms_rotated(dets, scores, thr, labels, c.param_bool("clockwise"))
                             : mmcv::ops::nms_quadri(dets, scores, thr, labels);
      // Ties: we sort stably, which is MMCV's answer for a stable sort (alt.*).
      const bool alt = c.has("alt.keep_inds_stable_sort");
      EXPECT_EQ(keep.scalar_type(), at::kLong);
      EXPECT_EQ(keep.device(), device());
      EXPECT_ALLEQUAL(keep.cpu(), c.at(alt ? "alt.keep_inds_stable_sort" : "out.keep_inds"));
      EXPECT_ALLCLOSE(out, c.at(alt ? "alt.dets_stable_sort" : "out.dets"));
    }
  }
}

TEST_P(nms_rotated_test, matches_mmcv_unit_test_values) {
  // mmcv/tests/test_ops/test_nms_rotated.py: test_nms_rotated and test_ml_nms_rotated.
  auto b = at::tensor({6.0, 3.0, 8.0, 7.0, 0.5, 0.7, 3.0, 6.0, 9.0, 11.0, 0.6, 0.8, 3.0, 7.0, 10.0, 12.0, 0.3, 0.5,
                       1.0, 4.0, 13.0, 7.0, 0.6, 0.9},
                      f32())
               .view({4, 6});
  auto labels = at::tensor({1.0, 0.0, 1.0, 0.0}, f32());
  auto expect_dets = at::tensor({1.0, 4.0, 13.0, 7.0, 0.6, 3.0, 6.0, 9.0, 11.0, 0.6, 6.0, 3.0, 8.0, 7.0, 0.5}, f32())
                         .view({3, 5});
  auto expect_keep = at::tensor({3, 1, 0}, at::kLong);
  for (bool with_labels : {false, true}) {
    SCOPED_TRACE(with_labels ? "labels (ignored, as MMCV)" : "no labels");
    std::optional<at::Tensor> l;
    if (with_labels) l = labels;
    auto [dets, keep] = mmcv::ops::nms_rotated(b.narrow(1, 0, 5), b.select(1, 5), 0.5, l);
    EXPECT_ALLCLOSE(dets.narrow(1, 0, 5), expect_dets);
    EXPECT_ALLEQUAL(keep.cpu(), expect_keep);
    // Counter-clockwise angles with clockwise=false give the same boxes.
    auto ccw = b.narrow(1, 0, 5).clone();
    ccw.select(1, 4).neg_();
    auto [d2, k2] = mmcv::ops::nms_rotated(ccw, b.select(1, 5), 0.5, l, /*clockwise=*/false);
    EXPECT_ALLEQUAL(k2.cpu(), expect_keep);
    EXPECT_ALLCLOSE(d2.select(1, 4), -expect_dets.select(1, 4));  // dets keep the input angles
  }
  // test_nms_quadri.py: test_nms_quadri / test_ml_nms_quadri (threshold 0.3).
  auto q = at::tensor({1.0, 1.0, 3.0, 4.0, 4.0, 4.0, 4.0, 1.0, 0.7, 2.0, 2.0, 3.0, 4.0, 4.0, 2.0, 3.0, 1.0, 0.8,
                       7.0, 7.0, 8.0, 8.0, 9.0, 7.0, 8.0, 6.0, 0.5, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.9},
                      f32())
               .view({4, 9});
  auto expect_q = at::tensor({0., 0., 0., 2., 2., 2., 2., 0., 2., 2., 3., 4., 4., 2., 3., 1., 7., 7., 8., 8., 9., 7., 8., 6.},
                             f32())
                      .view({3, 8});
  for (bool with_labels : {false, true}) {
    std::optional<at::Tensor> l;
    if (with_labels) l = labels;
    auto [dq, kq] = mmcv::ops::nms_quadri(q.narrow(1, 0, 8), q.select(1, 8), 0.3, l);
    EXPECT_ALLCLOSE(dq.narrow(1, 0, 8), expect_q);
    EXPECT_ALLEQUAL(kq.cpu(), at::tensor({3, 1, 2}, at::kLong));
    EXPECT_EQ(dq.size(1), 9);
  }
}

TEST_P(nms_rotated_test, batched_nms_with_rotated_and_quadri_types) {
  // mmcv/tests/test_ops/test_nms_rotated.py and test_nms_quadri.py: test_batched_nms.
  auto b = at::tensor({6.0, 3.0, 8.0, 7.0, 0.5, 0.7, 3.0, 6.0, 9.0, 11.0, 0.6, 0.8, 3.0, 7.0, 10.0, 12.0, 0.3, 0.5,
                       1.0, 4.0, 13.0, 7.0, 0.6, 0.9},
                      f32())
               .view({4, 6});
  auto labels = at::tensor({1.0, 0.0, 1.0, 0.0}, f32());
  auto cfg = NmsConfig().type("nms_rotated").iou_threshold(0.5);
  for (int64_t split_thr : {10000, 0}) {  // one NMS, or one per class then a sort
    SCOPED_TRACE("split_thr " + std::to_string(split_thr));
    auto [da, ka] = mmcv::ops::batched_nms(b.narrow(1, 0, 5), b.select(1, 5), labels, NmsConfig(cfg).split_thr(split_thr),
                                           /*class_agnostic=*/true);
    // MMCV's split path runs one NMS per idxs value even when class_agnostic (which only skips
    // the offsets), so there the result is per class.
    EXPECT_ALLEQUAL(ka.cpu(), split_thr > 0 ? at::tensor({3, 1, 0}, at::kLong) : at::tensor({3, 1, 0, 2}, at::kLong));
    EXPECT_EQ(da.size(1), 6);
    auto [dc, kc] = mmcv::ops::batched_nms(b.narrow(1, 0, 5), b.select(1, 5), labels, NmsConfig(cfg).split_thr(split_thr));
    EXPECT_ALLEQUAL(kc.cpu(), at::tensor({3, 1, 0, 2}, at::kLong));
    EXPECT_ALLCLOSE(dc.narrow(1, 0, 5), b.narrow(1, 0, 5).index_select(0, kc));  // original boxes, not shifted
    EXPECT_ALLCLOSE(dc.select(1, 5), b.select(1, 5).index_select(0, kc));
    // clockwise=false in the config negates the angles.
    auto ccw = b.narrow(1, 0, 5).clone();
    ccw.select(1, 4).neg_();
    auto [dw, kw] = mmcv::ops::batched_nms(ccw, b.select(1, 5), labels,
                                           NmsConfig(cfg).clockwise(false).split_thr(split_thr));
    EXPECT_ALLEQUAL(kw.cpu(), at::tensor({3, 1, 0, 2}, at::kLong));
  }
  auto q = at::tensor({1.0, 1.0, 3.0, 4.0, 4.0, 4.0, 4.0, 1.0, 0.7, 2.0, 2.0, 3.0, 4.0, 4.0, 2.0, 3.0, 1.0, 0.8,
                       7.0, 7.0, 8.0, 8.0, 9.0, 7.0, 8.0, 6.0, 0.5, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.9},
                      f32())
               .view({4, 9});
  auto qcfg = NmsConfig().type("nms_quadri").iou_threshold(0.3);
  auto [qa, qka] = mmcv::ops::batched_nms(q.narrow(1, 0, 8), q.select(1, 8), labels, qcfg, true);
  EXPECT_ALLEQUAL(qka.cpu(), at::tensor({3, 1, 2}, at::kLong));
  auto [qc, qkc] = mmcv::ops::batched_nms(q.narrow(1, 0, 8), q.select(1, 8), labels, qcfg);
  EXPECT_ALLEQUAL(qkc.cpu(), at::tensor({3, 1, 0, 2}, at::kLong));
  EXPECT_EQ(qc.size(1), 9);
  // Keys the op does not take are rejected, as Python's **nms_cfg would.
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(q.narrow(1, 0, 8), q.select(1, 8), labels, NmsConfig(qcfg).clockwise(true)),
                    "batched_nms: expected nms_cfg to set only keys that nms_quadri takes (iou_threshold), but got "
                    "clockwise");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b.narrow(1, 0, 5), b.select(1, 5), labels, NmsConfig(cfg).offset(1)),
                    "batched_nms: expected nms_cfg to set only keys that nms_rotated takes (iou_threshold, clockwise), "
                    "but got offset");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b.narrow(1, 0, 5), b.select(1, 5), labels, NmsConfig().type("nms_rotated")),
                    "batched_nms: expected nms_cfg to set iou_threshold (required by nms_rotated), but got none");
}

TEST_P(nms_rotated_test, matches_float64_loop_reference) {
  for (auto dt : {at::kDouble, at::kFloat})
    for (double thr : {0.1, 0.3, 0.5, 0.7}) {
      SCOPED_TRACE(std::string(c10::toString(dt)) + " thr " + std::to_string(thr));
      auto opt = at::TensorOptions().dtype(dt).device(device());
      auto dets = clustered_rotated(300, opt);
      auto scores = at::rand({300}, opt);
      auto [out, keep] = mmcv::ops::nms_rotated(dets, scores, thr);
      const auto expected = ref_keep(dets, scores, thr, false);
      ASSERT_LT(expected.numel(), 295);  // the test suppresses boxes
      EXPECT_ALLEQUAL(keep.cpu(), expected);
      EXPECT_ALLEQUAL(out.narrow(1, 0, 5), dets.index_select(0, keep));
      auto [outc, keepc] = mmcv::ops::nms_rotated(dets, scores, thr, std::nullopt, /*clockwise=*/false);
      EXPECT_ALLEQUAL(keepc.cpu(), ref_keep(dets, scores, thr, false, false));
      auto quads = clustered_quads(300, opt);
      auto [qout, qkeep] = mmcv::ops::nms_quadri(quads, scores, thr);
      EXPECT_ALLEQUAL(qkeep.cpu(), ref_keep(quads, scores, thr, true));
      EXPECT_ALLEQUAL(qout.select(1, 8), scores.index_select(0, qkeep));
    }
}

TEST_P(nms_rotated_test, many_rounds_of_the_driver) {
  // 2500 boxes: dozens of 64-box tiles and kept-box chunks.
  auto dets = clustered_rotated(2500, f64(), 600.0, 80);
  auto scores = at::rand({2500}, f64());
  auto [out, keep] = mmcv::ops::nms_rotated(dets, scores, 0.4);
  EXPECT_ALLEQUAL(keep.cpu(), ref_keep(dets, scores, 0.4, false));
}

TEST_P(nms_rotated_test, threshold_edges_ties_and_duplicates) {
  auto dets = clustered_rotated(40, f32());
  auto scores = at::rand({40}, f32());
  // >=: threshold 0 keeps exactly one box (the best), even for boxes that do not overlap.
  auto [d0, k0] = mmcv::ops::nms_rotated(dets, scores, 0.0);
  ASSERT_EQ(k0.numel(), 1);
  EXPECT_EQ(k0.item<int64_t>(), scores.argmax().item<int64_t>());
  EXPECT_EQ(std::get<1>(mmcv::ops::nms_quadri(clustered_quads(40, f32()), scores, 0.0)).numel(), 1);
  // Exact duplicates: IoU ~1 >= 0.99 suppresses the copy; ties keep the lower index.
  auto dup = at::cat({dets.narrow(0, 0, 5), dets.narrow(0, 0, 5)}, 0);
  auto same = at::ones({10}, f32());
  auto [dd, kd] = mmcv::ops::nms_rotated(dup, same, 0.99);
  EXPECT_TRUE(kd.cpu().lt(5).all().item<bool>()) << kd;
  // Threshold 1: IoU of separate boxes is < 1, so nothing that differs is suppressed.
  auto [d1, k1] = mmcv::ops::nms_rotated(dets, scores, 1.0);
  EXPECT_GE(k1.numel(), 39);
}

TEST_P(nms_rotated_test, non_finite_values_follow_mmcv) {
  // No validation (docs/nan_policy.md): a NaN IoU never suppresses; NaN scores sort first.
  auto dets = at::tensor({0.0, 0.0, 10.0, 10.0, 0.0, 1.0, 0.0, 10.0, 10.0, 0.0, 2.0, 0.0, 10.0, 10.0, 0.0}, f32())
                  .view({3, 5});
  auto scores = at::tensor({0.9, 0.8, 0.7}, f32());
  auto nan_w = dets.clone();
  nan_w[1][2] = NAN;  // box 1's IoUs are NaN: it is kept and suppresses nothing
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms_rotated(nan_w, scores, 0.5)).cpu(), at::tensor({0, 1}, at::kLong));
  auto nan_s = scores.clone();
  nan_s[2] = NAN;  // sorts first, suppresses box 0 and 1
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms_rotated(dets, nan_s, 0.5)).cpu(), at::tensor({2}, at::kLong));
}

TEST_P(nms_rotated_test, dets_are_differentiable_gathers) {
  auto dets = clustered_rotated(30, f64()).requires_grad_(true);
  auto scores = at::rand({30}, f64()).requires_grad_(true);
  auto [out, keep] = mmcv::ops::nms_rotated(dets, scores, 0.3);
  ASSERT_TRUE(out.requires_grad());
  auto g = at::randn_like(out);
  auto grads = mmcv_test::vjp(out, g, {dets, scores});
  auto expect_d = at::zeros_like(dets).index_add_(0, keep, g.narrow(1, 0, 5));
  auto expect_s = at::zeros_like(scores).index_add_(0, keep, g.select(1, 5));
  EXPECT_ALLCLOSE(grads[0], expect_d);
  EXPECT_ALLCLOSE(grads[1], expect_s);
  EXPECT_FALSE(keep.requires_grad());
}

TEST_P(nms_rotated_test, default_arguments) {
  auto dets = clustered_rotated(50, f32());
  auto scores = at::rand({50}, f32());
  auto [a, ka] = mmcv::ops::nms_rotated(dets, scores, 0.5);
  auto [b, kb] = mmcv::ops::nms_rotated(dets, scores, 0.5, std::nullopt, true);
  EXPECT_ALLEQUAL(ka, kb);
  EXPECT_ALLEQUAL(a, b);
  // Views: a transposed-storage copy gives the same result.
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms_rotated(dets.t().contiguous().t(), scores, 0.5)), ka);
}

TEST_P(nms_rotated_test, empty_inputs) {
  auto [d, k] = mmcv::ops::nms_rotated(at::empty({0, 5}, f32()), at::empty({0}, f32()), 0.5);
  EXPECT_EQ(d.sizes(), at::IntArrayRef({0, 5}));  // MMCV returns dets as given
  EXPECT_EQ(k.sizes(), at::IntArrayRef({0}));      // MMCV: None
  EXPECT_EQ(k.scalar_type(), at::kLong);
  EXPECT_EQ(k.device(), device());
  auto [dq, kq] = mmcv::ops::nms_quadri(at::empty({0, 8}, f64()), at::empty({0}, f64()), 0.5, at::empty({0}, f64()));
  EXPECT_EQ(dq.sizes(), at::IntArrayRef({0, 8}));
  EXPECT_EQ(kq.numel(), 0);
  EXPECT_EQ(kq.scalar_type(), at::kLong);
}

TEST_P(nms_rotated_test, bad_inputs_raise_clear_errors) {
  using mmcv::ops::nms_quadri;
  using mmcv::ops::nms_rotated;
  auto d = clustered_rotated(4, f32());
  auto s = at::rand({4}, f32());
  EXPECT_MMCV_ERROR(nms_rotated(d.narrow(1, 0, 4), s, 0.5), "nms_rotated: expected dets to have shape [N, 5], but got [4, 4]");
  EXPECT_MMCV_ERROR(nms_rotated(d, s.narrow(0, 0, 3), 0.5),
                    "nms_rotated: expected scores to have shape [N] (with N = 4), but got [3]");
  EXPECT_MMCV_ERROR(nms_rotated(d, s, 0.5, s.narrow(0, 0, 2)),
                    "nms_rotated: expected labels to have shape [N] (with N = 4), but got [2]");
  EXPECT_MMCV_ERROR(nms_rotated(d.to(at::kInt), s.to(at::kInt), 0.5),
                    "nms_rotated: expected dets to have a floating-point dtype");
  EXPECT_MMCV_ERROR(nms_rotated(d, s.to(at::kDouble), 0.5),
                    "nms_rotated: expected scores to have the same dtype as dets (Float), but got Double");
  EXPECT_MMCV_ERROR(nms_rotated(d, s, 1.5), "nms_rotated: expected iou_threshold to be in [0, 1], but got 1.5");
  EXPECT_MMCV_ERROR(nms_rotated(d, s, -0.1), "nms_rotated: expected iou_threshold to be in [0, 1]");
  EXPECT_MMCV_ERROR(nms_rotated(d, s, NAN), "nms_rotated: expected iou_threshold to be in [0, 1], but got nan");
  auto q = clustered_quads(4, f32());
  EXPECT_MMCV_ERROR(nms_quadri(d, s, 0.5), "nms_quadri: expected dets to have shape [N, 8], but got [4, 5]");
  EXPECT_MMCV_ERROR(nms_quadri(q, s.view({2, 2}), 0.5), "nms_quadri: expected scores to have shape [N]");
  EXPECT_MMCV_ERROR(nms_quadri(q, s, 2.0), "nms_quadri: expected iou_threshold to be in [0, 1], but got 2");
  if (device().is_cuda()) {
    EXPECT_MMCV_ERROR(nms_rotated(d, s.cpu(), 0.5), "nms_rotated: expected scores to be on the same device as dets");
    EXPECT_MMCV_ERROR(nms_quadri(q, s, 0.5, s.cpu()), "nms_quadri: expected labels to be on the same device as dets");
  }
}

MMCV_INSTANTIATE_DEVICES(nms_rotated_test);

}  // namespace
