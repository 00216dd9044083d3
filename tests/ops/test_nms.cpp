// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/nms.hpp (mmcv.ops.nms, soft_nms, nms_match, batched_nms).

#include <mmcv/ops/nms.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"

namespace {

using mmcv::ops::NmsConfig;
using mmcv_test::DeviceTest;

// ---------------------------------------------------------------------------------------------
// Loop references (test-only; loops are fine here). Written from MMCV's CPU kernels' definition,
// in the input's dtype T (float for float32 inputs, as MMCV computes; double for float64), with
// thresholds rounded to float as MMCV's C++ signature does. Ties: stable order (lower index first).
// ---------------------------------------------------------------------------------------------

template <typename T>
struct HostBoxes {
  std::vector<T> x1, y1, x2, y2, s;
  explicit HostBoxes(const at::Tensor& boxes, const at::Tensor& scores = at::Tensor()) {
    auto b = boxes.to(at::kCPU).contiguous();
    auto a = b.accessor<T, 2>();
    for (int64_t i = 0; i < b.size(0); ++i) {
      x1.push_back(a[i][0]);
      y1.push_back(a[i][1]);
      x2.push_back(a[i][2]);
      y2.push_back(a[i][3]);
    }
    if (scores.defined()) {
      auto sc = scores.to(at::kCPU).contiguous();
      auto sa = sc.accessor<T, 1>();
      for (int64_t i = 0; i < sc.size(0); ++i) s.push_back(sa[i]);
    }
  }
  int64_t size() const { return static_cast<int64_t>(x1.size()); }
  T area(int64_t i, T off) const { return (x2[i] - x1[i] + off) * (y2[i] - y1[i] + off); }
  T iou(int64_t i, int64_t j, T off) const {
    const T w = std::max(T(0), std::min(x2[i], x2[j]) - std::max(x1[i], x1[j]) + off);
    const T h = std::max(T(0), std::min(y2[i], y2[j]) - std::max(y1[i], y1[j]) + off);
    const T inter = w * h;
    return inter / (area(i, off) + area(j, off) - inter);
  }
  std::vector<int64_t> stable_order() const {
    std::vector<int64_t> o(s.size());
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
    return o;
  }
};

template <typename T>
std::vector<int64_t> loop_nms(const at::Tensor& boxes, const at::Tensor& scores, double thr, int64_t offset,
                              bool inclusive = false) {
  HostBoxes<T> b(boxes, scores);
  const auto order = b.stable_order();
  const T t = static_cast<T>(static_cast<float>(thr));
  const T off = static_cast<T>(offset);
  std::vector<char> dead(order.size(), 0);
  std::vector<int64_t> keep;
  for (size_t a = 0; a < order.size(); ++a) {
    if (dead[a]) continue;
    keep.push_back(order[a]);
    for (size_t c = a + 1; c < order.size(); ++c) {
      if (dead[c]) continue;
      const T v = b.iou(order[a], order[c], off);
      if (inclusive ? v >= t : v > t) dead[c] = 1;
    }
  }
  return keep;
}

// MMCV's nms_match loop: groups (kept first, then suppressed in score order), flattened + sizes.
template <typename T>
std::pair<std::vector<int64_t>, std::vector<int64_t>> loop_nms_match(const at::Tensor& dets, double thr) {
  HostBoxes<T> b(dets.narrow(1, 0, 4), dets.select(1, 4));
  const auto order = b.stable_order();
  const T t = static_cast<T>(static_cast<float>(thr));
  std::vector<char> dead(order.size(), 0);
  std::vector<int64_t> flat, sizes;
  for (size_t a = 0; a < order.size(); ++a) {
    if (dead[a]) continue;
    flat.push_back(order[a]);
    int64_t size = 1;
    for (size_t c = a + 1; c < order.size(); ++c) {
      if (dead[c]) continue;
      if (b.iou(order[a], order[c], T(0)) >= t) {
        dead[c] = 1;
        flat.push_back(order[c]);
        ++size;
      }
    }
    sizes.push_back(size);
  }
  return {flat, sizes};
}

// MMCV's softnms_cpu, transcribed (array swaps, swap-with-last removal, first maximum wins).
template <typename T>
std::pair<std::vector<int64_t>, std::vector<std::vector<T>>> loop_soft_nms(const at::Tensor& boxes,
                                                                           const at::Tensor& scores, double thr,
                                                                           double sigma, double min_score,
                                                                           int method, int64_t offset) {
  HostBoxes<T> b(boxes, scores);
  const T off = static_cast<T>(offset);
  const float ft = static_cast<float>(thr), fs = static_cast<float>(sigma), fm = static_cast<float>(min_score);
  int64_t n = b.size();
  std::vector<T> ar(n);
  for (int64_t i = 0; i < n; ++i) ar[i] = b.area(i, off);
  std::vector<int64_t> ind(n);
  std::iota(ind.begin(), ind.end(), 0);
  std::vector<std::vector<T>> dets;
  auto swap_rows = [&](int64_t p, int64_t q) {
    std::swap(b.x1[p], b.x1[q]);
    std::swap(b.y1[p], b.y1[q]);
    std::swap(b.x2[p], b.x2[q]);
    std::swap(b.y2[p], b.y2[q]);
    std::swap(b.s[p], b.s[q]);
    std::swap(ar[p], ar[q]);
    std::swap(ind[p], ind[q]);
  };
  auto copy_row = [&](int64_t dst, int64_t src) {
    b.x1[dst] = b.x1[src];
    b.y1[dst] = b.y1[src];
    b.x2[dst] = b.x2[src];
    b.y2[dst] = b.y2[src];
    b.s[dst] = b.s[src];
    ar[dst] = ar[src];
    ind[dst] = ind[src];
  };
  for (int64_t i = 0; i < n; ++i) {
    int64_t mp = i;
    T ms = b.s[i];
    for (int64_t p = i + 1; p < n; ++p)
      if (ms < b.s[p]) {
        ms = b.s[p];
        mp = p;
      }
    swap_rows(i, mp);
    dets.push_back({b.x1[i], b.y1[i], b.x2[i], b.y2[i], b.s[i]});
    for (int64_t p = i + 1; p < n; ++p) {
      const T w = std::max(T(0), std::min(b.x2[i], b.x2[p]) - std::max(b.x1[i], b.x1[p]) + off);
      const T h = std::max(T(0), std::min(b.y2[i], b.y2[p]) - std::max(b.y1[i], b.y1[p]) + off);
      const T inter = w * h;
      const T ovr = inter / (ar[i] + ar[p] - inter);
      T weight = 1;
      if (method == 0) {
        if (ovr >= T(ft)) weight = 0;
      } else if (method == 1) {
        if (ovr >= T(ft)) weight = 1 - ovr;
      } else {
        weight = std::exp(-(ovr * ovr) / T(fs));
      }
      b.s[p] *= weight;
      if (b.s[p] < T(fm)) {
        copy_row(p, n - 1);
        --n;
        --p;
      }
    }
  }
  return {std::vector<int64_t>(ind.begin(), ind.begin() + static_cast<int64_t>(dets.size())), dets};
}

at::Tensor long_tensor(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

at::Tensor flatten_groups(const std::vector<at::Tensor>& groups, at::Tensor* sizes) {
  std::vector<int64_t> sz;
  std::vector<at::Tensor> cpu;
  for (const auto& g : groups) {
    sz.push_back(g.numel());
    cpu.push_back(g.cpu());
  }
  *sizes = long_tensor(sz);
  return cpu.empty() ? at::empty({0}, at::kLong) : at::cat(cpu);
}

// Random boxes with deliberate hazards: clusters (many overlaps), exact duplicates, zero-area boxes.
at::Tensor hazard_boxes(int64_t n, at::TensorOptions opt, double spread = 60.0) {
  auto cpu = opt.device(at::kCPU);
  auto xy = at::rand({n, 2}, cpu) * spread;
  auto wh = at::rand({n, 2}, cpu) * 30.0 + 1.0;
  auto b = at::cat({xy, xy + wh}, 1);
  if (n >= 8) {
    b[1].copy_(b[0]);                      // identical boxes
    b[3].copy_(b[2]);
    b[4].narrow(0, 2, 1).copy_(b[4].narrow(0, 0, 1));  // zero width
    b[5].narrow(0, 3, 1).copy_(b[5].narrow(0, 1, 1));  // zero height
    b[6].narrow(0, 2, 2).copy_(b[6].narrow(0, 0, 2));  // a point
    b[7].copy_(b[6]);                                  // two identical points: 0/0
  }
  return b.to(opt.device());
}

// Scores quantised to 8 levels: lots of exact ties.
at::Tensor tied_scores(int64_t n, at::TensorOptions opt) {
  return (at::randint(0, 8, {n}, opt.device(at::kCPU)) / 8.0).to(opt.device());
}

class nms_test : public DeviceTest {};

// =============================================================================================
// nms
// =============================================================================================

TEST_P(nms_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("nms");
  ASSERT_EQ(names.size(), 8u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto [dets, inds] = mmcv::ops::nms(dev(c.at("in.boxes")), dev(c.at("in.scores")), c.param_double("iou_threshold"),
                                       c.param_int("offset"), c.param_double("score_threshold"),
                                       c.param_int("max_num"));
    EXPECT_EQ(inds.device(), device());
    EXPECT_EQ(dets.device(), device());
    EXPECT_EQ(inds.scalar_type(), at::kLong);
    // Our tie rule is the stable sort: tie-sensitive cases must give the alt.* answer.
    const std::string suffix = c.tie_sensitive ? "_stable_sort" : "";
    const std::string pre = c.tie_sensitive ? "alt." : "out.";
    EXPECT_ALLEQUAL(inds.cpu(), c.at(pre + "inds" + suffix));
    EXPECT_ALLCLOSE(dets.cpu(), c.at(pre + "dets" + suffix));
  }
}

TEST_P(nms_test, matches_loop_reference_float32_and_float64) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {1, 2, 9, 60, 300, 1500}) {
      for (bool ties : {false, true}) {
        auto opt = at::TensorOptions().dtype(dtype).device(device());
        auto boxes = hazard_boxes(n, opt, n > 300 ? 200.0 : 60.0);
        auto scores = ties ? tied_scores(n, opt) : at::rand({n}, opt.device(at::kCPU)).to(opt.device());
        for (double thr : {0.0, 0.3, 0.5, 0.7, 1.0}) {
          for (int64_t offset : {0, 1}) {
            SCOPED_TRACE(testing::Message() << dtype << " n=" << n << " ties=" << ties << " thr=" << thr
                                            << " offset=" << offset);
            auto [dets, inds] = mmcv::ops::nms(boxes, scores, thr, offset);
            const auto ref = dtype == at::kFloat ? loop_nms<float>(boxes, scores, thr, offset)
                                                 : loop_nms<double>(boxes, scores, thr, offset);
            EXPECT_ALLEQUAL(inds.cpu(), long_tensor(ref));
            EXPECT_EQ(dets.scalar_type(), dtype);
            EXPECT_ALLCLOSE(dets, at::cat({boxes.index_select(0, inds), scores.index_select(0, inds).unsqueeze(1)}, 1));
          }
        }
      }
    }
  }
}

TEST_P(nms_test, both_iou_plans_agree_bit_for_bit) {
  // The single-threaded (packed [4, T, K]) and multi-threaded ([T, K] ops only) IoU forms.
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (int64_t offset : {0, 1}) {
      auto opt = at::TensorOptions().dtype(dtype).device(device());
      auto boxes = hazard_boxes(300, opt, 60.0);
      const auto prep = mmcv::ops::detail::nms_prepare("nms", boxes, "boxes", at::Tensor(), "scores",
                                                       static_cast<double>(offset));
      const auto a = prep.packed.narrow(1, 0, 64);
      const auto packed = mmcv::ops::detail::nms_packed_iou(a, prep.packed, static_cast<double>(offset));
      const auto inline_ops = mmcv::ops::detail::nms_packed_iou_inline(a, prep.packed, static_cast<double>(offset));
      EXPECT_TRUE(at::equal(packed.isnan(), inline_ops.isnan()));
      EXPECT_TRUE(at::equal(packed.nan_to_num(-1.0), inline_ops.nan_to_num(-1.0)));
    }
  }
}

TEST_P(nms_test, same_results_with_several_intra_op_threads) {
  // With > 1 ATen thread nms / nms_match use the inline IoU plan and smaller calls.
  auto boxes = hazard_boxes(2000, f32(), 300.0);
  auto scores = tied_scores(2000, f32());
  auto dets = at::cat({boxes, scores.unsqueeze(1)}, 1);
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = std::get<1>(mmcv::ops::nms(boxes, scores, 0.5, 1)).cpu();
  at::Tensor one_sizes;
  const auto one_groups = flatten_groups(mmcv::ops::nms_match(dets, 0.5), &one_sizes);
  at::set_num_threads(2);
  EXPECT_TRUE(mmcv::ops::detail::nms_iou_plan().inline_ops);
  const auto two = std::get<1>(mmcv::ops::nms(boxes, scores, 0.5, 1)).cpu();
  at::Tensor two_sizes;
  const auto two_groups = flatten_groups(mmcv::ops::nms_match(dets, 0.5), &two_sizes);
  auto soft_boxes = boxes.narrow(0, 8, 1500);  // no degenerate rows: the round path
  auto soft_scores = at::rand({1500}, f32().device(at::kCPU)).to(device());
  const auto si = std::get<1>(mmcv::ops::soft_nms(soft_boxes, soft_scores)).cpu();
  at::set_num_threads(1);
  const auto si1 = std::get<1>(mmcv::ops::soft_nms(soft_boxes, soft_scores)).cpu();
  at::set_num_threads(saved);
  EXPECT_ALLEQUAL(si, si1);
  EXPECT_ALLEQUAL(two, one);
  EXPECT_ALLEQUAL(one, long_tensor(loop_nms<float>(boxes, scores, 0.5, 1)));
  EXPECT_ALLEQUAL(two_groups, one_groups);
  EXPECT_ALLEQUAL(two_sizes, one_sizes);
}

TEST_P(nms_test, score_threshold_and_max_num_follow_mmcv) {
  auto boxes = hazard_boxes(400, f32(), 150.0);
  auto scores = at::rand({400}, f32().device(at::kCPU)).to(device());
  const auto all = loop_nms<float>(boxes, scores, 0.5, 0);
  // max_num truncates the NMS result.
  auto [d1, i1] = mmcv::ops::nms(boxes, scores, 0.5, 0, 0, 7);
  EXPECT_ALLEQUAL(i1.cpu(), long_tensor(std::vector<int64_t>(all.begin(), all.begin() + 7)));
  // score_threshold filters (strictly greater) before NMS; indices refer to the input.
  const auto valid = at::nonzero(scores.cpu() > 0.4).squeeze(1);
  const auto sub = loop_nms<float>(boxes.cpu().index_select(0, valid), scores.cpu().index_select(0, valid), 0.5, 0);
  auto [d2, i2] = mmcv::ops::nms(boxes, scores, 0.5, 0, /*score_threshold=*/0.4);
  EXPECT_ALLEQUAL(i2.cpu(), valid.index_select(0, long_tensor(sub)));
  // Both, and a threshold nothing passes.
  auto [d3, i3] = mmcv::ops::nms(boxes, scores, 0.5, 0, 0.4, 3);
  EXPECT_ALLEQUAL(i3.cpu(), i2.cpu().narrow(0, 0, 3));
  auto [d4, i4] = mmcv::ops::nms(boxes, scores, 0.5, 0, 2.0);
  EXPECT_EQ(i4.numel(), 0);
  EXPECT_EQ(d4.sizes(), (at::IntArrayRef{0, 5}));
}

TEST_P(nms_test, docstring_example_and_defaults) {
  // MMCV's docstring example: 3 boxes kept.
  auto boxes = dev(at::tensor({49.1f, 32.4f, 51.0f, 35.9f, 49.3f, 32.9f, 51.0f, 35.3f, 49.2f, 31.8f, 51.0f, 35.4f,
                               35.1f, 11.5f, 39.1f, 15.7f, 35.6f, 11.8f, 39.3f, 14.2f, 35.3f, 11.5f, 39.9f, 14.5f,
                               35.2f, 11.7f, 39.7f, 15.7f})
                       .reshape({7, 4}));
  auto scores = dev(at::tensor({0.9f, 0.9f, 0.5f, 0.5f, 0.5f, 0.4f, 0.3f}));
  auto [dets, inds] = mmcv::ops::nms(boxes, scores, 0.6);
  EXPECT_EQ(inds.numel(), 3);
  EXPECT_EQ(dets.size(0), 3);
  // Ties (0.9, 0.9) and (0.5 x3) are visited in index order.
  EXPECT_ALLEQUAL(inds.cpu(), long_tensor(loop_nms<float>(boxes, scores, 0.6, 0)));
  // Defaults: offset 0, no score filter, no max_num.
  auto [dets2, inds2] = mmcv::ops::nms(boxes, scores, 0.6, 0, 0, -1);
  EXPECT_ALLEQUAL(inds.cpu(), inds2.cpu());
}

TEST_P(nms_test, ties_follow_index_order_deterministically) {
  // All scores equal: the stable order visits boxes by index, so the lower index survives.
  auto boxes = dev(at::tensor({0.f, 0.f, 10.f, 10.f, 1.f, 1.f, 11.f, 11.f, 20.f, 20.f, 30.f, 30.f, 0.f, 0.f, 10.f, 10.f})
                       .reshape({4, 4}));
  auto scores = dev(at::full({4}, 0.5f));
  auto [dets, inds] = mmcv::ops::nms(boxes, scores, 0.5);
  EXPECT_ALLEQUAL(inds.cpu(), at::tensor({0, 2}, at::kLong));
  // Repeated calls, large tied inputs: identical answers.
  auto big = hazard_boxes(3000, f32(), 300.0);
  auto tied = tied_scores(3000, f32());
  auto first = std::get<1>(mmcv::ops::nms(big, tied, 0.5)).cpu();
  for (int r = 0; r < 3; ++r) EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms(big, tied, 0.5)).cpu(), first);
  EXPECT_ALLEQUAL(first, long_tensor(loop_nms<float>(big, tied, 0.5, 0)));
}

TEST_P(nms_test, identical_and_zero_area_boxes) {
  auto boxes = dev(at::tensor({0.f, 0.f, 4.f, 4.f, 0.f, 0.f, 4.f, 4.f, 2.f, 2.f, 2.f, 6.f, 2.f, 2.f, 2.f, 6.f}).reshape({4, 4}));
  auto scores = dev(at::tensor({0.9f, 0.8f, 0.7f, 0.6f}));
  // IoU(0, 1) = 1 exactly: > 1 keeps both; the zero-area boxes (0/0 = NaN with each other) never
  // suppress and are never suppressed.
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms(boxes, scores, 1.0)).cpu(), at::tensor({0, 1, 2, 3}, at::kLong));
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms(boxes, scores, 0.99)).cpu(), at::tensor({0, 2, 3}, at::kLong));
  // iou_threshold 0: any positive overlap suppresses; IoU 0 (and NaN) does not.
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms(boxes, scores, 0.0)).cpu(), at::tensor({0, 2, 3}, at::kLong));
  // offset 1: the zero-width boxes get width 1 and overlap each other and box 0.
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms(boxes, scores, 0.0, 1)).cpu(),
                  long_tensor(loop_nms<float>(boxes, scores, 0.0, 1)));
}

TEST_P(nms_test, inverted_boxes_match_the_loop) {
  // Boxes with x2 < x1 are garbage, but MMCV computes them: so do we (exact slow reduction path).
  auto boxes = hazard_boxes(200, f32(), 40.0);
  auto flip = at::rand({200}, f32().device(at::kCPU)).to(device()) < 0.2;
  boxes = at::where(flip.unsqueeze(1), boxes.index_select(1, dev(at::tensor({2, 1, 0, 3}, at::kLong))), boxes);
  auto scores = at::rand({200}, f32().device(at::kCPU)).to(device());
  for (double thr : {0.0, 0.5}) {
    EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::nms(boxes, scores, thr)).cpu(),
                    long_tensor(loop_nms<float>(boxes, scores, thr, 0)));
  }
}

TEST_P(nms_test, non_contiguous_inputs) {
  auto boxes = hazard_boxes(300, f32(), 100.0);
  auto scores = at::rand({300}, f32().device(at::kCPU)).to(device());
  auto wide = at::zeros({300, 8}, f32());
  wide.narrow(1, 2, 4).copy_(boxes);
  auto strided_scores = at::stack({scores, scores}, 1).select(1, 1);
  auto [d1, i1] = mmcv::ops::nms(boxes, scores, 0.5);
  auto [d2, i2] = mmcv::ops::nms(wide.narrow(1, 2, 4), strided_scores, 0.5);
  EXPECT_ALLEQUAL(i1.cpu(), i2.cpu());
  EXPECT_ALLCLOSE(d1, d2);
}

TEST_P(nms_test, dets_gradients_flow_to_boxes_and_scores) {
  // dets is a gather of boxes and scores (as in MMCV): gradients scatter back. Boxes are far from
  // the threshold so finite differences do not change which boxes are kept.
  auto boxes = at::tensor({0., 0., 10., 10., 1., 1., 11., 11., 30., 30., 40., 45., 31., 29., 41., 44., 60., 0., 70., 5.},
                          at::kDouble)
                   .reshape({5, 4})
                   .to(device())
                   .requires_grad_();
  auto scores = at::tensor({0.9, 0.8, 0.3, 0.7, 0.5}, at::kDouble).to(device()).requires_grad_();
  auto fn = [](const std::vector<at::Tensor>& in) { return std::get<0>(mmcv::ops::nms(in[0], in[1], 0.5)); };
  EXPECT_TRUE(mmcv_test::gradcheck(fn, {boxes, scores}));
  auto [dets, inds] = mmcv::ops::nms(boxes, scores, 0.5);
  EXPECT_FALSE(inds.requires_grad());
  dets.sum().backward();
  // Kept boxes get gradient 1 per coordinate, suppressed ones 0.
  auto kept = at::zeros({5}, at::kDouble);
  kept.index_fill_(0, inds.cpu(), 1.0);
  EXPECT_ALLCLOSE(boxes.grad().cpu(), kept.unsqueeze(1).expand({5, 4}));
  EXPECT_ALLCLOSE(scores.grad().cpu(), kept);
}

TEST_P(nms_test, empty_inputs) {
  auto [dets, inds] = mmcv::ops::nms(at::empty({0, 4}, f32()), at::empty({0}, f32()), 0.5);
  EXPECT_EQ(dets.sizes(), (at::IntArrayRef{0, 5}));
  EXPECT_EQ(inds.sizes(), (at::IntArrayRef{0}));
  EXPECT_EQ(inds.scalar_type(), at::kLong);
  EXPECT_EQ(inds.device(), device());
  EXPECT_EQ(dets.device(), device());
  auto [d2, i2] = mmcv::ops::nms(at::empty({0, 4}, f64()), at::empty({0}, f64()), 0.5, 1, 0.3, 5);
  EXPECT_EQ(d2.scalar_type(), at::kDouble);
  EXPECT_EQ(i2.numel(), 0);
}

TEST_P(nms_test, bad_inputs_throw_named_errors) {
  auto b = hazard_boxes(5, f32());
  auto s = at::rand({5}, f32().device(at::kCPU)).to(device());
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b.narrow(1, 0, 3), s, 0.5), "nms: expected boxes to have shape [N, 4], but got [5, 3]");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b.unsqueeze(0), s, 0.5), "nms: expected boxes to have shape [N, 4], but got [1, 5, 4]");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s.narrow(0, 0, 4), 0.5),
                    "nms: expected scores to have shape [N] (with N = 5), but got [4]");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b.to(at::kLong), s, 0.5),
                    "nms: expected boxes to have a floating-point dtype (float32 or float64), but got Long");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b.to(at::kHalf), s.to(at::kHalf), 0.5),
                    "nms: expected boxes to have a floating-point dtype (float32 or float64), but got Half");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s.to(at::kDouble), 0.5),
                    "nms: expected scores to have the same dtype as boxes (Float), but got Double");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s, 0.5, 2), "nms: expected offset to be one of {0, 1}, but got 2");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s, 1.5), "nms: expected iou_threshold to be in [0, 1], but got 1.5");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s, -0.1), "nms: expected iou_threshold to be in [0, 1], but got -0.1");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s, std::nan("")), "nms: expected iou_threshold to be in [0, 1], but got nan");
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s, 0.5, 0, std::nan("")), "nms: expected score_threshold to be finite");
  auto bn = b.clone();
  bn[2][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_MMCV_ERROR(mmcv::ops::nms(bn, s, 0.5), "nms: expected boxes to contain only finite values, but got NaN or Inf");
  auto si = s.clone();
  si[0] = std::numeric_limits<float>::infinity();
  EXPECT_MMCV_ERROR(mmcv::ops::nms(b, si, 0.5), "nms: expected scores to contain only finite values, but got NaN or Inf");
  if (device().is_cuda()) {
    EXPECT_MMCV_ERROR(mmcv::ops::nms(b, s.cpu(), 0.5), "nms: expected scores to be on the same device as boxes");
  }
}

// =============================================================================================
// soft_nms
// =============================================================================================

int method_id(const std::string& m) { return m == "naive" ? 0 : m == "linear" ? 1 : 2; }

TEST_P(nms_test, soft_nms_matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("soft_nms");
  ASSERT_EQ(names.size(), 6u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto [dets, inds] = mmcv::ops::soft_nms(dev(c.at("in.boxes")), dev(c.at("in.scores")),
                                            c.param_double("iou_threshold"), c.param_double("sigma"),
                                            c.param_double("min_score"), c.param_string("method"),
                                            c.param_int("offset"));
    EXPECT_EQ(inds.device(), device());
    EXPECT_EQ(dets.device(), device());
    EXPECT_ALLEQUAL(inds.cpu(), c.at("out.inds"));
    EXPECT_ALLCLOSE(dets.cpu(), c.at("out.dets"));
  }
}

TEST_P(nms_test, soft_nms_matches_loop_reference) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {1, 2, 9, 150}) {
      for (bool ties : {false, true}) {
        auto opt = at::TensorOptions().dtype(dtype).device(device());
        auto boxes = hazard_boxes(n, opt, 50.0);
        auto scores = ties ? tied_scores(n, opt) + 0.05 : at::rand({n}, opt.device(at::kCPU)).to(device());
        for (const std::string method : {"naive", "linear", "gaussian"}) {
          for (double thr : {0.0, 0.3, 1.0}) {
            for (double min_score : {0.0, 1e-3, 0.3}) {
              for (int64_t offset : {0, 1}) {
                SCOPED_TRACE(testing::Message() << dtype << " n=" << n << " ties=" << ties << " " << method
                                                << " thr=" << thr << " min_score=" << min_score << " offset=" << offset);
                auto [dets, inds] = mmcv::ops::soft_nms(boxes, scores, thr, 0.5, min_score, method, offset);
                at::Tensor ref_inds, ref_dets;
                if (dtype == at::kFloat) {
                  auto [ri, rd] = loop_soft_nms<float>(boxes, scores, thr, 0.5, min_score, method_id(method), offset);
                  ref_inds = long_tensor(ri);
                  ref_dets = at::empty({static_cast<int64_t>(rd.size()), 5}, at::kFloat);
                  for (size_t k = 0; k < rd.size(); ++k) ref_dets[k] = at::tensor(rd[k], at::kFloat);
                } else {
                  auto [ri, rd] = loop_soft_nms<double>(boxes, scores, thr, 0.5, min_score, method_id(method), offset);
                  ref_inds = long_tensor(ri);
                  ref_dets = at::empty({static_cast<int64_t>(rd.size()), 5}, at::kDouble);
                  for (size_t k = 0; k < rd.size(); ++k) ref_dets[k] = at::tensor(rd[k], at::kDouble);
                }
                EXPECT_ALLEQUAL(inds.cpu(), ref_inds);
                EXPECT_ALLCLOSE(dets.cpu(), ref_dets);
              }
            }
          }
        }
      }
    }
  }
}

// The round path (several picks per round, positive boxes and scores) against the loop, both
// through soft_nms and by calling the round routine directly (so the test proves it is taken).
TEST_P(nms_test, soft_nms_round_path_matches_loop_reference) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {1, 3, 150}) {
      auto opt = at::TensorOptions().dtype(dtype).device(device());
      auto xy = at::rand({n, 2}, opt.device(at::kCPU)) * 80.0;
      auto boxes = at::cat({xy, xy + at::rand({n, 2}, opt.device(at::kCPU)) * 30.0 + 1.0}, 1).to(device());
      auto scores = at::rand({n}, opt.device(at::kCPU)).to(device());
      for (const std::string method : {"naive", "linear", "gaussian"}) {
        for (double thr : {0.0, 0.3, 0.7}) {
          for (double min_score : {0.0, 0.2}) {
            for (int64_t offset : {0, 1}) {
              SCOPED_TRACE(testing::Message() << dtype << " n=" << n << " " << method << " thr=" << thr
                                              << " min_score=" << min_score << " offset=" << offset);
              const int mid = method_id(method);
              const auto [ri, rd] = dtype == at::kFloat
                                        ? loop_soft_nms<float>(boxes, scores, thr, 0.5, min_score, mid, offset)
                                        : std::pair<std::vector<int64_t>, std::vector<std::vector<float>>>{};
              std::vector<int64_t> ref_i = ri;
              if (dtype == at::kDouble) ref_i = loop_soft_nms<double>(boxes, scores, thr, 0.5, min_score, mid, offset).first;
              auto [dets, inds] = mmcv::ops::soft_nms(boxes, scores, thr, 0.5, min_score, method, offset);
              EXPECT_ALLEQUAL(inds.cpu(), long_tensor(ref_i));
              const auto prep = mmcv::ops::detail::nms_prepare("soft_nms", boxes, "boxes", scores, "scores",
                                                               static_cast<double>(offset));
              ASSERT_TRUE(prep.positive);
              for (int64_t block : {1, 4, 16}) {
                auto [ids, picked] = mmcv::ops::detail::soft_nms_rounds(
                    prep.packed, scores, static_cast<float>(thr), 0.5f, static_cast<float>(min_score), mid, offset,
                    block);
                // With min_score 0, boxes decayed to exactly 0 stay alive and tie at the top (the
                // round path then defers to the step-by-step path); otherwise it must finish.
                if (min_score > 0) {
                  ASSERT_TRUE(ids.defined()) << "distinct scores: the round path gave up";
                }
                if (!ids.defined()) continue;
                EXPECT_ALLEQUAL(ids.cpu(), long_tensor(ref_i)) << "block=" << block;
                EXPECT_ALLCLOSE(picked, dets.select(1, 4));
              }
            }
          }
        }
      }
    }
  }
}

TEST_P(nms_test, soft_nms_round_path_gives_up_on_a_tie_at_the_top) {
  auto boxes = dev(at::tensor({0.f, 0.f, 10.f, 10.f, 20.f, 20.f, 30.f, 30.f, 1.f, 1.f, 11.f, 11.f}).reshape({3, 4}));
  auto scores = dev(at::tensor({0.5f, 0.5f, 0.9f}));
  const auto prep = mmcv::ops::detail::nms_prepare("soft_nms", boxes, "boxes", scores, "scores", 0.0);
  // First pick (0.9, box 2) is unique; IoU(box 2, box 0) = 0.68 < 0.9, so boxes 0 and 1 both keep
  // 0.5 and tie at the top of the second step.
  auto [ids, picked] = mmcv::ops::detail::soft_nms_rounds(prep.packed, scores, 0.9f, 0.5f, 1e-3f, 1, 0, 16);
  EXPECT_FALSE(ids.defined());
  // soft_nms still answers, by MMCV's array order: after picking box 2 (swapped with position 0),
  // box 1 sits at position 1 and box 0 at position 2, so box 1 wins the tie.
  auto [dets, inds] = mmcv::ops::soft_nms(boxes, scores, 0.9);
  EXPECT_ALLEQUAL(inds.cpu(), at::tensor({2, 1, 0}, at::kLong));
  EXPECT_ALLEQUAL(inds.cpu(), long_tensor(loop_soft_nms<float>(boxes, scores, 0.9, 0.5, 1e-3, 1, 0).first));
}

TEST_P(nms_test, soft_nms_docstring_example_and_defaults) {
  auto boxes = dev(at::tensor({4.f, 3.f, 5.f, 3.f, 4.f, 3.f, 5.f, 4.f, 3.f, 1.f, 3.f, 1.f, 3.f, 1.f, 3.f, 1.f,
                               3.f, 1.f, 3.f, 1.f, 3.f, 1.f, 3.f, 1.f})
                       .reshape({6, 4}));
  auto scores = dev(at::tensor({0.9f, 0.9f, 0.5f, 0.5f, 0.4f, 0.0f}));
  auto [dets, inds] = mmcv::ops::soft_nms(boxes, scores, 0.6, 0.5);
  EXPECT_EQ(inds.numel(), 5);
  EXPECT_EQ(dets.size(0), 5);
  auto [d2, i2] = mmcv::ops::soft_nms(boxes, scores);  // 0.3, 0.5, 1e-3, "linear", 0
  auto [d3, i3] = mmcv::ops::soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear", 0);
  EXPECT_ALLEQUAL(i2.cpu(), i3.cpu());
  EXPECT_ALLCLOSE(d2, d3);
  // A lone box below min_score is still picked (MMCV never tests the pick against min_score).
  auto [d4, i4] = mmcv::ops::soft_nms(boxes.narrow(0, 0, 1), dev(at::tensor({1e-5f})));
  EXPECT_EQ(i4.numel(), 1);
}

TEST_P(nms_test, soft_nms_empty_and_bad_inputs) {
  auto [dets, inds] = mmcv::ops::soft_nms(at::empty({0, 4}, f32()), at::empty({0}, f32()));
  EXPECT_EQ(dets.sizes(), (at::IntArrayRef{0, 5}));
  EXPECT_EQ(inds.scalar_type(), at::kLong);
  EXPECT_EQ(inds.device(), device());
  auto b = hazard_boxes(5, f32());
  auto s = at::rand({5}, f32().device(at::kCPU)).to(device());
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s, 0.3, 0.5, 1e-3, "cubic"),
                    "soft_nms: expected method to be one of {\"naive\", \"linear\", \"gaussian\"}, but got \"cubic\"");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b.narrow(1, 0, 2), s), "soft_nms: expected boxes to have shape [N, 4]");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s.narrow(0, 0, 2)), "soft_nms: expected scores to have shape [N] (with N = 5)");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b.to(at::kInt), s), "soft_nms: expected boxes to have a floating-point dtype");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s, 0.3, 0.5, 1e-3, "linear", -1),
                    "soft_nms: expected offset to be one of {0, 1}, but got -1");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s, 2.0), "soft_nms: expected iou_threshold to be in [0, 1], but got 2");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s, 0.3, 0.0, 1e-3, "gaussian"),
                    "soft_nms: expected sigma to be positive and finite as float32 (method \"gaussian\"), but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s, 0.3, 0.5, std::nan("")), "soft_nms: expected min_score to be finite");
  auto bn = b.clone();
  bn[0][0] = std::numeric_limits<float>::infinity();
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(bn, s), "soft_nms: expected boxes to contain only finite values");
}

// Issue 12, finding 11: sigma = 1e-300 is 0 as MMCV's float; the gaussian weights became
// 0 / 0 = NaN and boxes disjoint from the top one (IoU 0) were discarded. Rejected now; the
// smallest float32 sigma still keeps disjoint boxes (weight exp(-0 / sigma) = 1).
TEST_P(nms_test, soft_nms_sigma_is_checked_as_float32) {
  auto b = at::tensor({0., 0., 10., 10., 20., 20., 30., 30., 1., 1., 11., 11.}, f32()).view({3, 4});
  auto s = at::tensor({.9, .8, .7}, f32());
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s, 0.3, 1e-300, 1e-3, "gaussian"),
                    "soft_nms: expected sigma to be positive and finite as float32 (method \"gaussian\"), but got 1e-300");
  EXPECT_MMCV_ERROR(mmcv::ops::soft_nms(b, s, 0.3, 1e300, 1e-3, "gaussian"), "soft_nms: expected sigma to be positive");
  auto [dets, inds] = mmcv::ops::soft_nms(b, s, 0.3, 1e-38, 1e-3, "gaussian");
  EXPECT_EQ(inds.cpu()[0].item<int64_t>(), 0);
  EXPECT_EQ(inds.cpu()[1].item<int64_t>(), 1);  // disjoint from box 0: kept with its score
  EXPECT_FLOAT_EQ(dets.cpu()[1][4].item<float>(), 0.8f);
}

// Issue 12, finding 13: batched_nms names itself for [N, 0] boxes and for idxs dtypes ATen's
// kernels lack (float16 sort on CPU, complex).
TEST_P(nms_test, batched_nms_rejects_columnless_boxes_and_odd_idxs_dtypes) {
  const auto cfg = mmcv::ops::NmsConfig().iou_threshold(0.5);
  auto b = at::rand({3, 4}, f32()) * 10;
  b.narrow(1, 2, 2).add_(b.narrow(1, 0, 2));
  auto s = at::rand({3}, f32());
  auto idxs = at::tensor({0, 1, 0}, at::TensorOptions().dtype(at::kLong).device(device()));
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(at::empty({3, 0}, f32()), s, idxs, cfg),
                    "batched_nms: expected boxes to have box columns");
  for (auto st : {at::kHalf, at::kBFloat16, at::kComplexFloat})
    EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, idxs.to(st), cfg),
                      "batched_nms: expected idxs to have an integer, float32 or float64 dtype, but got");
  EXPECT_NO_THROW(mmcv::ops::batched_nms(b, s, idxs.to(at::kFloat), cfg));
}

// =============================================================================================
// nms_match
// =============================================================================================

TEST_P(nms_test, nms_match_matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("nms_match");
  ASSERT_EQ(names.size(), 3u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto groups = mmcv::ops::nms_match(dev(c.at("in.dets")), c.param_double("iou_threshold"));
    for (const auto& g : groups) {
      EXPECT_EQ(g.device(), device());
      EXPECT_EQ(g.scalar_type(), at::kLong);
    }
    at::Tensor sizes;
    auto flat = flatten_groups(groups, &sizes);
    const std::string suffix = c.tie_sensitive ? "_stable_sort" : "";
    const std::string pre = c.tie_sensitive ? "alt." : "out.";
    EXPECT_ALLEQUAL(flat, c.at(pre + "groups_flat" + suffix));
    EXPECT_ALLEQUAL(sizes, c.at(pre + "group_sizes" + suffix));
  }
}

TEST_P(nms_test, nms_match_matches_loop_reference) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {1, 2, 9, 100, 700}) {
      for (bool ties : {false, true}) {
        auto opt = at::TensorOptions().dtype(dtype).device(device());
        auto boxes = hazard_boxes(n, opt, n > 100 ? 150.0 : 50.0);
        auto scores = ties ? tied_scores(n, opt) : at::rand({n}, opt.device(at::kCPU)).to(device());
        auto dets = at::cat({boxes, scores.unsqueeze(1)}, 1);
        for (double thr : {0.0, 0.3, 0.5, 1.0}) {
          SCOPED_TRACE(testing::Message() << dtype << " n=" << n << " ties=" << ties << " thr=" << thr);
          at::Tensor sizes;
          auto flat = flatten_groups(mmcv::ops::nms_match(dets, thr), &sizes);
          const auto [rf, rs] =
              dtype == at::kFloat ? loop_nms_match<float>(dets, thr) : loop_nms_match<double>(dets, thr);
          EXPECT_ALLEQUAL(flat, long_tensor(rf));
          EXPECT_ALLEQUAL(sizes, long_tensor(rs));
        }
      }
    }
  }
}

TEST_P(nms_test, nms_match_heads_equal_inclusive_nms_and_edge_cases) {
  auto boxes = hazard_boxes(300, f32(), 100.0);
  auto scores = at::rand({300}, f32().device(at::kCPU)).to(device());
  auto groups = mmcv::ops::nms_match(at::cat({boxes, scores.unsqueeze(1)}, 1), 0.4);
  std::vector<int64_t> heads;
  for (const auto& g : groups) heads.push_back(g[0].item<int64_t>());
  EXPECT_ALLEQUAL(long_tensor(heads), long_tensor(loop_nms<float>(boxes, scores, 0.4, 0, /*inclusive=*/true)));
  // iou_threshold 0: IoU >= 0 holds for every finite IoU, so one group (the NaN pairs of the two
  // identical points are the exception: a point never joins another point's group).
  auto one = mmcv::ops::nms_match(at::cat({boxes, scores.unsqueeze(1)}, 1).narrow(0, 8, 292), 0.0);
  EXPECT_EQ(one.size(), 1u);
  // Empty input: no groups, no error (MMCV returns [] before any check).
  EXPECT_TRUE(mmcv::ops::nms_match(at::empty({0, 5}, f32()), 0.5).empty());
  EXPECT_TRUE(mmcv::ops::nms_match(at::empty({0}, f32()), 0.5).empty());
}

TEST_P(nms_test, nms_match_bad_inputs) {
  auto d = at::rand({4, 5}, f32().device(at::kCPU)).to(device());
  EXPECT_MMCV_ERROR(mmcv::ops::nms_match(d.narrow(1, 0, 4), 0.5),
                    "nms_match: expected dets to have shape [N, 5], but got [4, 4]");
  EXPECT_MMCV_ERROR(mmcv::ops::nms_match(d.to(at::kLong), 0.5), "nms_match: expected dets to have a floating-point dtype");
  EXPECT_MMCV_ERROR(mmcv::ops::nms_match(d, 1.01), "nms_match: expected iou_threshold to be in [0, 1], but got 1.01");
  auto dn = d.clone();
  dn[1][4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_MMCV_ERROR(mmcv::ops::nms_match(dn, 0.5), "nms_match: expected dets to contain only finite values");
}

// =============================================================================================
// batched_nms
// =============================================================================================

std::optional<NmsConfig> cfg_of(const mmcv_test::Case& c) {
  if (!c.has_param("nms_cfg.iou_threshold")) return std::nullopt;  // nms_cfg=None cases
  NmsConfig cfg;
  // The manifest's string keys (nms_cfg.type / method) are not in tests/data/manifest.tsv: soft_nms
  // is the only type with sigma / min_score, and its only case is linear (see the case name).
  if (c.has_param("nms_cfg.sigma") || c.has_param("nms_cfg.min_score")) {
    cfg.type("soft_nms");
    cfg.method(c.has_string("nms_cfg.method") ? c.param_string("nms_cfg.method") : std::string("linear"));
    EXPECT_NE(c.name.find("linear"), std::string::npos);
  }
  cfg.iou_threshold(c.param_double("nms_cfg.iou_threshold"));
  if (c.has_param("nms_cfg.split_thr")) cfg.split_thr(c.param_int("nms_cfg.split_thr"));
  if (c.has_param("nms_cfg.max_num")) cfg.max_num(c.param_int("nms_cfg.max_num"));
  if (c.has_param("nms_cfg.class_agnostic")) cfg.class_agnostic(c.param_bool("nms_cfg.class_agnostic"));
  if (c.has_param("nms_cfg.sigma")) cfg.sigma(c.param_double("nms_cfg.sigma"));
  if (c.has_param("nms_cfg.min_score")) cfg.min_score(c.param_double("nms_cfg.min_score"));
  return cfg;
}

TEST_P(nms_test, batched_nms_matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("batched_nms");
  ASSERT_EQ(names.size(), 8u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto [dets, keep] = mmcv::ops::batched_nms(dev(c.at("in.boxes")), dev(c.at("in.scores")), dev(c.at("in.idxs")),
                                               cfg_of(c), c.param_bool("class_agnostic"));
    EXPECT_EQ(keep.device(), device());
    EXPECT_EQ(keep.scalar_type(), at::kLong);
    const std::string suffix = c.tie_sensitive ? "_stable_sort" : "";
    const std::string pre = c.tie_sensitive ? "alt." : "out.";
    EXPECT_ALLEQUAL(keep.cpu(), c.at(pre + "keep" + suffix));
    EXPECT_ALLCLOSE(dets.cpu(), c.at(pre + "dets" + suffix));
  }
}

// MMCV's batched_nms for type "nms", with the loop reference: class offsets in the boxes' dtype,
// one NMS (N < split_thr) or one per class then a stable sort by score.
template <typename T>
std::vector<int64_t> loop_batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                                      double thr, bool per_class, int64_t max_num) {
  auto b = boxes.cpu();
  auto s = scores.cpu();
  auto offsets = idxs.cpu().to(b.scalar_type()) * (b.max() + 1);
  auto shifted = b + offsets.unsqueeze(1);
  std::vector<int64_t> kept;
  if (!per_class) {
    kept = loop_nms<T>(shifted, s, thr, 0);
    if (max_num > 0 && static_cast<int64_t>(kept.size()) > max_num) kept.resize(max_num);
    return kept;
  }
  auto classes = std::get<0>(at::unique_consecutive(std::get<0>(idxs.cpu().sort())));
  for (int64_t c = 0; c < classes.size(0); ++c) {
    auto mask = at::nonzero(idxs.cpu() == classes[c]).squeeze(1);
    for (int64_t k : loop_nms<T>(shifted.index_select(0, mask), s.index_select(0, mask), thr, 0))
      kept.push_back(mask[k].item<int64_t>());
  }
  std::sort(kept.begin(), kept.end());
  auto sa = s.accessor<T, 1>();
  std::stable_sort(kept.begin(), kept.end(), [&](int64_t a, int64_t c) { return sa[a] > sa[c]; });
  if (max_num > 0 && static_cast<int64_t>(kept.size()) > max_num) kept.resize(max_num);
  return kept;
}

TEST_P(nms_test, batched_nms_matches_loop_reference_on_both_paths) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (bool ties : {false, true}) {
      auto opt = at::TensorOptions().dtype(dtype).device(device());
      const int64_t n = 500;
      auto boxes = hazard_boxes(n, opt, 80.0);
      auto scores = ties ? tied_scores(n, opt) : at::rand({n}, opt.device(at::kCPU)).to(device());
      auto idxs = at::randint(0, 7, {n}, at::kLong).to(device());
      for (int64_t split_thr : {10000, 100}) {
        for (int64_t max_num : {-1, 30}) {
          SCOPED_TRACE(testing::Message() << dtype << " ties=" << ties << " split_thr=" << split_thr << " max_num=" << max_num);
          auto cfg = NmsConfig().iou_threshold(0.5).split_thr(split_thr);
          if (max_num > 0) cfg.max_num(max_num);
          auto [dets, keep] = mmcv::ops::batched_nms(boxes, scores, idxs, cfg);
          const bool per_class = n >= split_thr;
          const auto ref = dtype == at::kFloat ? loop_batched_nms<float>(boxes, scores, idxs, 0.5, per_class, max_num)
                                               : loop_batched_nms<double>(boxes, scores, idxs, 0.5, per_class, max_num);
          EXPECT_ALLEQUAL(keep.cpu(), long_tensor(ref));
          EXPECT_ALLCLOSE(dets, at::cat({boxes.index_select(0, keep), scores.index_select(0, keep).unsqueeze(1)}, 1));
        }
      }
    }
  }
}

TEST_P(nms_test, batched_nms_paths_agree_with_score_threshold_and_offset) {
  // Non-negative coordinates: MMCV's class offsets separate the classes, so the single NMS and the
  // per-class path keep the same boxes in the same (score, then index) order.
  auto boxes = hazard_boxes(400, f32(), 90.0);
  auto scores = tied_scores(400, f32());
  auto idxs = at::randint(0, 5, {400}, at::kLong).to(device());
  auto cfg = NmsConfig().iou_threshold(0.4).offset(1).score_threshold(0.3);
  auto [d1, k1] = mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig(cfg).split_thr(10000));
  auto [d2, k2] = mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig(cfg).split_thr(1));
  EXPECT_ALLEQUAL(k1.cpu(), k2.cpu());
  EXPECT_ALLCLOSE(d1, d2);
  EXPECT_TRUE((scores.index_select(0, k2) > 0.3).all().item<bool>());
}

TEST_P(nms_test, batched_nms_soft_nms_per_class_equals_per_class_soft_nms) {
  auto boxes = hazard_boxes(300, f32(), 60.0);
  auto scores = at::rand({300}, f32().device(at::kCPU)).to(device());
  auto idxs = at::randint(0, 4, {300}, at::kLong).to(device());
  // Class-agnostic with split_thr above N: exactly one soft_nms call on the unshifted boxes.
  auto cfg = NmsConfig().type("soft_nms").iou_threshold(0.3).min_score(0.05).method("gaussian").sigma(0.3);
  auto [d1, k1] = mmcv::ops::batched_nms(boxes, scores, idxs, cfg, /*class_agnostic=*/true);
  auto [d0, k0] = mmcv::ops::soft_nms(boxes, scores, 0.3, 0.3, 0.05, "gaussian");
  EXPECT_ALLEQUAL(k1.cpu(), k0.cpu());
  EXPECT_ALLCLOSE(d1, d0);
  // Per-class path with max_num (popped before the call, so soft_nms accepts it there).
  auto [d2, k2] = mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig(cfg).split_thr(1).max_num(40));
  EXPECT_EQ(k2.numel(), 40);
  auto sorted = std::get<0>(d2.select(1, 4).sort(/*stable=*/true, 0, /*descending=*/true));
  EXPECT_ALLEQUAL(d2.select(1, 4).cpu(), sorted.cpu(), /*check_dtype=*/true);
}

TEST_P(nms_test, batched_nms_cfg_none_sorts_and_class_agnostic_override) {
  auto boxes = hazard_boxes(50, f32());
  auto scores = tied_scores(50, f32());
  auto idxs = at::randint(0, 3, {50}, at::kLong).to(device());
  auto [dets, keep] = mmcv::ops::batched_nms(boxes, scores, idxs, std::nullopt);
  EXPECT_ALLEQUAL(keep.cpu(), std::get<1>(scores.cpu().sort(/*stable=*/true, 0, /*descending=*/true)));
  EXPECT_ALLCLOSE(dets, at::cat({boxes.index_select(0, keep), scores.index_select(0, keep).unsqueeze(1)}, 1));
  // nms_cfg.class_agnostic overrides the argument, both ways.
  auto agn = std::get<1>(mmcv::ops::nms(boxes, scores, 0.5));
  EXPECT_ALLEQUAL(std::get<1>(mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig().iou_threshold(0.5), true)).cpu(),
                  agn.cpu());
  EXPECT_ALLEQUAL(
      std::get<1>(mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig().iou_threshold(0.5).class_agnostic(true))).cpu(),
      agn.cpu());
  auto aware = std::get<1>(mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig().iou_threshold(0.5)));
  EXPECT_ALLEQUAL(
      std::get<1>(mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig().iou_threshold(0.5).class_agnostic(false), true))
          .cpu(),
      aware.cpu());
  // Float class ids are accepted (MMCV converts with idxs.to(boxes)).
  EXPECT_ALLEQUAL(
      std::get<1>(mmcv::ops::batched_nms(boxes, scores, idxs.to(at::kFloat), NmsConfig().iou_threshold(0.5))).cpu(),
      aware.cpu());
}

TEST_P(nms_test, batched_nms_rotated_boxes_get_centre_only_offsets) {
  auto boxes = dev(at::tensor({10.f, 20.f, 4.f, 6.f, 0.5f, 30.f, 5.f, 8.f, 2.f, -0.3f, 1.f, 2.f, 3.f, 9.f, 1.f}).reshape({3, 5}));
  auto idxs = dev(at::tensor({0, 2, 1}, at::kLong));
  auto shifted = mmcv::ops::detail::batched_nms_boxes_for_nms(boxes, idxs, /*class_agnostic=*/false);
  // max(x, y) + max(w, h) + 1 = 30 + 9 + 1 = 40 per class step, added to the centres only.
  auto expected = boxes.clone();
  expected.narrow(1, 0, 2).add_(dev(at::tensor({0.f, 80.f, 40.f})).unsqueeze(1));
  EXPECT_ALLEQUAL(shifted.cpu(), expected.cpu());
  EXPECT_ALLEQUAL(mmcv::ops::detail::batched_nms_boxes_for_nms(boxes, idxs, true).cpu(), boxes.cpu());
  // Axis-aligned: every coordinate by idxs * (max + 1).
  auto b4 = boxes.narrow(1, 0, 4);
  auto s4 = mmcv::ops::detail::batched_nms_boxes_for_nms(b4, idxs, false);
  EXPECT_ALLEQUAL(s4.cpu(), (b4 + dev(at::tensor({0.f, 62.f, 31.f})).unsqueeze(1)).cpu());
}

TEST_P(nms_test, batched_nms_empty_inputs) {
  for (bool agnostic : {false, true}) {
    for (int64_t split_thr : {10000, 0}) {
      auto [dets, keep] = mmcv::ops::batched_nms(at::empty({0, 4}, f32()), at::empty({0}, f32()),
                                                 at::empty({0}, f32().dtype(at::kLong)),
                                                 NmsConfig().iou_threshold(0.5).split_thr(split_thr), agnostic);
      EXPECT_EQ(dets.sizes(), (at::IntArrayRef{0, 5}));
      EXPECT_EQ(keep.numel(), 0);
      EXPECT_EQ(keep.scalar_type(), at::kLong);
      EXPECT_EQ(keep.device(), device());
    }
  }
  auto [d2, k2] = mmcv::ops::batched_nms(at::empty({0, 4}, f32()), at::empty({0}, f32()),
                                         at::empty({0}, f32().dtype(at::kLong)), std::nullopt);
  EXPECT_EQ(d2.sizes(), (at::IntArrayRef{0, 5}));
  EXPECT_EQ(k2.numel(), 0);
}

TEST_P(nms_test, batched_nms_bad_inputs_and_configs) {
  auto b = hazard_boxes(6, f32());
  auto s = at::rand({6}, f32().device(at::kCPU)).to(device());
  auto i = at::zeros({6}, at::kLong).to(device());
  auto cfg = NmsConfig().iou_threshold(0.5);
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i.narrow(0, 0, 5), cfg),
                    "batched_nms: expected idxs to have shape [N] (with N = 6), but got [5]");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b.flatten(), s, i, cfg), "batched_nms: expected boxes to have shape [N, D]");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s.to(at::kDouble), i, cfg),
                    "batched_nms: expected scores to have the same dtype as boxes (Float), but got Double");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i.to(at::kBool), cfg),
                    "batched_nms: expected idxs to have an integer, float32 or float64 dtype, but got Bool");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i, NmsConfig(cfg).type("hard_nms")),
                    "batched_nms: expected nms_cfg.type to be one of {\"nms\", \"soft_nms\"");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i, NmsConfig()),
                    "batched_nms: expected nms_cfg to set iou_threshold (required by nms), but got none");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i, NmsConfig(cfg).sigma(0.5)),
                    "batched_nms: expected nms_cfg to set only keys that nms takes (iou_threshold, offset, "
                    "score_threshold, max_num), but got sigma");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i, NmsConfig(cfg).type("soft_nms").max_num(3)),
                    "batched_nms: expected nms_cfg to set only keys that soft_nms takes (iou_threshold, sigma, "
                    "min_score, method, offset), but got max_num");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i, NmsConfig(cfg).clockwise(true)), "but got clockwise");
  // The op's own errors surface with its name.
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i, NmsConfig(cfg).offset(3)),
                    "nms: expected offset to be one of {0, 1}, but got 3");
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b, s, i, NmsConfig(cfg).type("soft_nms").method("cubic")),
                    "soft_nms: expected method to be one of");
  // Even empty input validates the config.
  EXPECT_MMCV_ERROR(mmcv::ops::batched_nms(b.narrow(0, 0, 0), s.narrow(0, 0, 0), i.narrow(0, 0, 0),
                                           NmsConfig(cfg).type("fast_nms")),
                    "batched_nms: expected nms_cfg.type to be one of");
}

TEST_P(nms_test, batched_nms_scores_gradient) {
  auto boxes = at::tensor({0., 0., 10., 10., 1., 1., 11., 11., 30., 30., 40., 45., 31., 29., 41., 44.}, at::kDouble)
                   .reshape({4, 4})
                   .to(device())
                   .requires_grad_();
  auto scores = at::tensor({0.9, 0.8, 0.3, 0.7}, at::kDouble).to(device()).requires_grad_();
  auto idxs = dev(at::tensor({0, 1, 0, 0}, at::kLong));
  for (int64_t split_thr : {10000, 1}) {
    auto fn = [&](const std::vector<at::Tensor>& in) {
      return std::get<0>(mmcv::ops::batched_nms(in[0], in[1], idxs, NmsConfig().iou_threshold(0.5).split_thr(split_thr)));
    };
    EXPECT_TRUE(mmcv_test::gradcheck(fn, {boxes, scores}));
  }
}

// =============================================================================================
// Memory bound: 200,000 boxes, peak extra resident memory < 1 GiB (measured, asserted)
// =============================================================================================

// Peak RSS (VmHWM, kB) since the last reset; reset through /proc/self/clear_refs ("5").
int64_t vm_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream is(line.substr(std::string(key).size()));
      int64_t kb = 0;
      is >> kb;
      return kb;
    }
  }
  return -1;
}
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.close();
  return static_cast<bool>(f) && vm_kb("VmHWM:") <= vm_kb("VmRSS:") + 1024;
}

// 200k boxes in 2000 clusters over a 10000 x 10000 canvas; one class per cluster (80 classes).
std::tuple<at::Tensor, at::Tensor, at::Tensor> large_inputs() {
  const int64_t n = 200000, clusters = 2000;
  auto centres = at::rand({clusters, 2}) * 10000.0;
  auto pick = at::randint(0, clusters, {n}, at::kLong);
  auto c = centres.index_select(0, pick) + at::randn({n, 2}) * 4.0;
  auto wh = at::rand({n, 2}) * 20.0 + 40.0;
  return {at::cat({c - wh / 2, c + wh / 2}, 1), at::rand({n}), pick.remainder(80)};
}

// Runs `fn` in a forked child (a fresh peak-RSS counter, not inflated by this process's history).
// Returns {peak resident memory above the child's starting RSS in MiB, fn's result}; {-1, -1} when
// the peak cannot be reset here.
std::pair<int64_t, int64_t> peak_extra_mib(const std::function<int64_t()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, -1};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    int64_t out[2] = {-1, -1};
    if (reset_peak_rss()) {
      const int64_t base = vm_kb("VmRSS:");
      out[1] = fn();
      out[0] = (vm_kb("VmHWM:") - base) / 1024;
    }
    if (write(fds[1], out, sizeof(out)) != static_cast<ssize_t>(sizeof(out))) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  int64_t out[2] = {-1, -1};
  if (read(fds[0], out, sizeof(out)) != static_cast<ssize_t>(sizeof(out))) out[0] = out[1] = -1;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {out[0], out[1]};
}

TEST_P(nms_test, memory_bound_200k_boxes) {
  if (device().is_cuda()) GTEST_SKIP() << "host RSS bound; the CUDA path runs the same tiling";
  auto [boxes, scores, idxs] = large_inputs();
  const auto [nms_mib, kept_nms] =
      peak_extra_mib([&] { return std::get<1>(mmcv::ops::nms(boxes, scores, 0.5)).numel(); });
  const auto [batched_mib, kept_batched] = peak_extra_mib([&] {
    return std::get<1>(mmcv::ops::batched_nms(boxes, scores, idxs, NmsConfig().iou_threshold(0.5))).numel();
  });
  if (nms_mib < 0 || batched_mib < 0) GTEST_SKIP() << "cannot reset the peak RSS here (/proc/self/clear_refs)";
  std::cout << "[ memory ] 200,000 boxes: nms peak extra " << nms_mib << " MiB (" << kept_nms
            << " kept), batched_nms (80 classes, per-class path) peak extra " << batched_mib << " MiB ("
            << kept_batched << " kept)\n";
  EXPECT_GT(kept_nms, 1000);
  EXPECT_GE(kept_batched, kept_nms);  // class-aware suppresses less
  EXPECT_LT(nms_mib, 1024);
  EXPECT_LT(batched_mib, 1024);
}

MMCV_INSTANTIATE_DEVICES(nms_test);

}  // namespace
