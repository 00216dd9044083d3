// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/bbox.hpp (mmcv.ops.bbox_overlaps).

#include <mmcv/ops/bbox.hpp>

#include <algorithm>
#include <cmath>

#include "common/test_utils.hpp"

namespace {

using mmcv_test::DeviceTest;

// Float64 loop reference written from MMCV's definition (test-only; loops are fine here).
at::Tensor loop_overlaps(const at::Tensor& b1_, const at::Tensor& b2_, const std::string& mode, bool aligned,
                         int64_t offset) {
  auto b1 = b1_.to(at::kCPU, at::kDouble).contiguous();
  auto b2 = b2_.to(at::kCPU, at::kDouble).contiguous();
  const int64_t m = b1.size(0), n = b2.size(0);
  auto out = aligned ? at::zeros({m}, at::kDouble) : at::zeros({m, n}, at::kDouble);
  auto p1 = b1.accessor<double, 2>();
  auto p2 = b2.accessor<double, 2>();
  auto po = out.reshape({-1});
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < (aligned ? 1 : n); ++j) {
      const int64_t jj = aligned ? i : j;
      const double w = std::max(std::min(p1[i][2], p2[jj][2]) - std::max(p1[i][0], p2[jj][0]) + offset, 0.0);
      const double h = std::max(std::min(p1[i][3], p2[jj][3]) - std::max(p1[i][1], p2[jj][1]) + offset, 0.0);
      const double inter = w * h;
      const double a1 = (p1[i][2] - p1[i][0] + offset) * (p1[i][3] - p1[i][1] + offset);
      const double a2 = (p2[jj][2] - p2[jj][0] + offset) * (p2[jj][3] - p2[jj][1] + offset);
      const double v = mode == "iou" ? inter / (a1 + a2 - inter) : inter / a1;
      po[aligned ? i : i * n + j] = v;
    }
  }
  return out;
}

at::Tensor random_boxes(int64_t n, at::TensorOptions opt, double scale = 50.0) {
  auto xy = at::rand({n, 2}, opt.device(at::kCPU)) * scale;
  auto wh = at::rand({n, 2}, opt.device(at::kCPU)) * (scale / 2);
  return at::cat({xy, xy + wh}, 1).to(opt.device());
}

class bbox_overlaps_test : public DeviceTest {};

TEST_P(bbox_overlaps_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("bbox_overlaps");
  ASSERT_EQ(names.size(), 9u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto out = mmcv::ops::bbox_overlaps(dev(c.at("in.bboxes1")), dev(c.at("in.bboxes2")), c.param_string("mode"),
                                        c.param_bool("aligned"), c.param_int("offset"));
    EXPECT_EQ(out.device(), device());
    EXPECT_EQ(out.scalar_type(), c.at("out.ious").scalar_type());
    EXPECT_ALLCLOSE(out, c.at("out.ious"));
  }
}

TEST_P(bbox_overlaps_test, matches_float64_loop_reference) {
  for (int64_t offset : {0, 1})
    for (bool aligned : {false, true})
      for (const char* mode : {"iou", "iof"}) {
        SCOPED_TRACE(std::string(mode) + " aligned=" + std::to_string(aligned) + " offset=" + std::to_string(offset));
        auto b1 = random_boxes(37, f64());
        auto b2 = random_boxes(aligned ? 37 : 23, f64());
        auto out = mmcv::ops::bbox_overlaps(b1, b2, mode, aligned, offset);
        EXPECT_ALLCLOSE(out, loop_overlaps(b1, b2, mode, aligned, offset));
        // float32 agrees with the float64 reference to float32 precision
        auto out32 = mmcv::ops::bbox_overlaps(b1.to(at::kFloat), b2.to(at::kFloat), mode, aligned, offset);
        EXPECT_EQ(out32.scalar_type(), at::kFloat);
        EXPECT_ALLCLOSE(out32, loop_overlaps(b1, b2, mode, aligned, offset), mmcv_test::Tol{1e-4, 1e-5});
      }
}

TEST_P(bbox_overlaps_test, docstring_example_and_defaults) {
  auto b1 = at::tensor({0, 0, 10, 10, 10, 10, 20, 20, 32, 32, 38, 42}, f32()).reshape({3, 4});
  auto b2 = at::tensor({0, 0, 10, 20, 0, 10, 10, 19, 10, 10, 20, 20}, f32()).reshape({3, 4});
  auto expected = at::tensor({0.5, 0., 0., 0., 0., 1., 0., 0., 0.}, f32()).reshape({3, 3});
  EXPECT_ALLCLOSE(mmcv::ops::bbox_overlaps(b1, b2), expected);
  // aligned returns (m,), not (m, 1)
  EXPECT_EQ(mmcv::ops::bbox_overlaps(b1, b2, "iou", true).sizes(), at::IntArrayRef({3}));
}

TEST_P(bbox_overlaps_test, empty_inputs_give_right_shapes) {
  auto empty1d = at::empty({0}, f32());
  auto nonempty = at::tensor({0, 0, 10, 9}, f32()).reshape({1, 4});
  EXPECT_EQ(mmcv::ops::bbox_overlaps(empty1d, nonempty).sizes(), at::IntArrayRef({0, 1}));
  EXPECT_EQ(mmcv::ops::bbox_overlaps(nonempty, empty1d).sizes(), at::IntArrayRef({1, 0}));
  EXPECT_EQ(mmcv::ops::bbox_overlaps(empty1d, empty1d).sizes(), at::IntArrayRef({0, 0}));
  auto e = mmcv::ops::bbox_overlaps(at::empty({0, 4}, f64()), at::empty({0, 4}, f64()), "iof", true);
  EXPECT_EQ(e.sizes(), at::IntArrayRef({0}));
  EXPECT_EQ(e.scalar_type(), at::kDouble);
  EXPECT_EQ(e.device(), device());
}

TEST_P(bbox_overlaps_test, batched_leading_dims) {
  auto b1 = random_boxes(2 * 3 * 5, f64()).reshape({2, 3, 5, 4});
  auto b2 = random_boxes(2 * 3 * 7, f64()).reshape({2, 3, 7, 4});
  auto out = mmcv::ops::bbox_overlaps(b1, b2, "iou", false, 0);
  ASSERT_EQ(out.sizes(), at::IntArrayRef({2, 3, 5, 7}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_ALLCLOSE(out[i][j], loop_overlaps(b1[i][j], b2[i][j], "iou", false, 0));
}

TEST_P(bbox_overlaps_test, degenerate_boxes_follow_mmcv_cpu_nan) {
  // Two zero-area boxes: union 0 -> 0/0 = NaN, exactly as MMCV's CPU kernel (no epsilon).
  auto z = at::tensor({1, 1, 1, 1}, f32()).reshape({1, 4});
  EXPECT_TRUE(at::isnan(mmcv::ops::bbox_overlaps(z, z)).all().item<bool>());
  // With offset 1 the same boxes have area 1 and IoU 1.
  EXPECT_FLOAT_EQ(mmcv::ops::bbox_overlaps(z, z, "iou", false, 1).item<float>(), 1.f);
}

TEST_P(bbox_overlaps_test, non_contiguous_inputs) {
  auto b1 = random_boxes(11, f32());
  auto b2 = random_boxes(9, f32());
  auto b1t = b1.t().contiguous().t();  // column-major view
  auto b2s = at::cat({b2, b2}, 0).slice(0, 0, 18, 2);
  EXPECT_ALLCLOSE(mmcv::ops::bbox_overlaps(b1t, b2s), mmcv::ops::bbox_overlaps(b1, at::cat({b2, b2}, 0).slice(0, 0, 18, 2).contiguous()));
}

TEST_P(bbox_overlaps_test, gradients_flow_through_autograd) {
  auto b1 = random_boxes(4, f64()).requires_grad_();
  auto b2 = random_boxes(3, f64()).requires_grad_();
  EXPECT_TRUE(mmcv_test::gradcheck(
      [](const std::vector<at::Tensor>& x) { return mmcv::ops::bbox_overlaps(x[0], x[1], "iou", false, 0); },
      {b1, b2}));
}

// Issue 12, finding 12: float16 / bfloat16 (documented) failed inside ATen on CPU ("clamp_min_cpu"
// not implemented for 'Half'); now computed in float32 and rounded once, on every device.
TEST_P(bbox_overlaps_test, half_precision_is_computed_on_every_device) {
  auto b1 = random_boxes(5, f32()), b2 = random_boxes(4, f32());
  for (auto st : {at::kHalf, at::kBFloat16})
    for (bool aligned : {false, true}) {
      auto x = b1.to(st), y = (aligned ? b1.flip(0) : b2).to(st);
      auto out = mmcv::ops::bbox_overlaps(x, y, "iou", aligned);
      EXPECT_EQ(out.scalar_type(), st);
      EXPECT_TRUE(at::equal(out, mmcv::ops::bbox_overlaps(x.to(at::kFloat), y.to(at::kFloat), "iou", aligned).to(st)));
    }
  // m * n of expanded inputs: our error, not a numel overflow inside ATen.
  auto huge = b1.narrow(0, 0, 1).expand({int64_t{1} << 40, 4});
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(huge, huge), "bbox_overlaps: the output [1099511627776, 1099511627776]");
}

TEST_P(bbox_overlaps_test, bad_inputs_throw_named_errors) {
  auto b = random_boxes(3, f32());
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b, b, "giou"),
                    "bbox_overlaps: expected mode to be one of {\"iou\", \"iof\"}, but got \"giou\"");
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b, b, "iou", false, 2),
                    "bbox_overlaps: expected offset to be one of {0, 1}, but got 2");
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(at::zeros({3, 5}, f32()), b),
                    "bbox_overlaps: expected bboxes1 to have shape [..., m, 4], but got [3, 5]");
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b, at::zeros({4}, f32())),
                    "bbox_overlaps: expected bboxes2 to have shape [..., n, 4], but got [4]");
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b, random_boxes(2, f32()), "iou", true),
                    "bbox_overlaps: expected bboxes2 to have shape [..., m, 4] (with m = 3), but got [2, 4]");
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b.to(at::kLong), b.to(at::kLong)),
                    "bbox_overlaps: expected bboxes1 to have a floating-point dtype");
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b, b.to(at::kDouble)),
                    "bbox_overlaps: expected bboxes2 to have the same dtype as bboxes1 (Float), but got Double");
  EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b.reshape({1, 3, 4}), b.reshape({3, 1, 4})),
                    "bbox_overlaps: expected bboxes2 to have the same batch dims as bboxes1 ([1]), but got [3]");
  if (device().is_cuda())
    EXPECT_MMCV_ERROR(mmcv::ops::bbox_overlaps(b, b.cpu()), "bbox_overlaps: expected bboxes2 to be on the same device");
}

MMCV_INSTANTIATE_DEVICES(bbox_overlaps_test);

}  // namespace
