// SPDX-License-Identifier: Apache-2.0
// detail/nms_driver.hpp: the tiled greedy driver equals the sequential greedy loop (keep and
// nms_match owners) for every tile size, chunking, layout, comparison and option.

#include <mmcv/ops/detail/nms_driver.hpp>

#include "common/test_utils.hpp"

#include <limits>
#include <tuple>
#include <vector>

namespace {

using mmcv::ops::detail::greedy_nms;
using mmcv::ops::detail::NmsCompare;
using mmcv::ops::detail::NmsDriverOptions;

// Plain axis-aligned IoU on [T, 4] x [K, 4] (offset 0), any device.
at::Tensor iou_rows(const at::Tensor& a, const at::Tensor& b) {
  auto lt = at::maximum(a.narrow(1, 0, 2).unsqueeze(1), b.narrow(1, 0, 2).unsqueeze(0));
  auto rb = at::minimum(a.narrow(1, 2, 2).unsqueeze(1), b.narrow(1, 2, 2).unsqueeze(0));
  auto wh = (rb - lt).clamp_min(0);
  auto inter = wh.select(2, 0) * wh.select(2, 1);
  auto area_a = (a.select(1, 2) - a.select(1, 0)) * (a.select(1, 3) - a.select(1, 1));
  auto area_b = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  return inter / (area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter);
}

// Same on the transposed layout [4, T] x [4, K] (box_dim = 1).
at::Tensor iou_cols(const at::Tensor& a, const at::Tensor& b) { return iou_rows(a.t(), b.t()); }

// The sequential loop (MMCV's nms / nms_match structure) on the full IoU matrix, in float64 on CPU.
std::tuple<std::vector<int64_t>, std::vector<int64_t>> loop_reference(const at::Tensor& iou_full, double thr,
                                                                      NmsCompare cmp) {
  auto m = iou_full.to(at::kCPU);
  auto acc = m.accessor<float, 2>();
  const int64_t n = m.size(0);
  const float t = static_cast<float>(thr);
  std::vector<char> suppressed(n, 0);
  std::vector<int64_t> keep, owner(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    if (suppressed[i]) continue;
    keep.push_back(i);
    owner[i] = i;
    for (int64_t j = i + 1; j < n; ++j) {
      if (suppressed[j]) continue;
      const float v = acc[i][j];
      const bool hit = cmp == NmsCompare::kGreater ? v > t : v >= t;
      if (hit) {
        suppressed[j] = 1;
        owner[j] = i;
      }
    }
  }
  return {keep, owner};
}

at::Tensor to_tensor(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

at::Tensor random_boxes(int64_t n, at::TensorOptions opts, double spread = 100.0) {
  auto xy = at::rand({n, 2}, opts) * spread;
  auto wh = at::rand({n, 2}, opts) * 40.0 + 1.0;
  return at::cat({xy, xy + wh}, 1);
}

class NmsDriver : public mmcv_test::DeviceTest {};

TEST_P(NmsDriver, equals_sequential_loop_for_every_tile_size) {
  for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{37}, int64_t{300}}) {
    auto boxes = random_boxes(n, f32());
    const auto full = iou_rows(boxes, boxes);
    for (auto cmp : {NmsCompare::kGreater, NmsCompare::kGreaterEqual}) {
      for (double thr : {0.0, 0.3, 0.5, 1.0}) {
        const auto [ref_keep, ref_owner] = loop_reference(full, thr, cmp);
        for (int64_t tile : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{64}, int64_t{1000}}) {
          for (bool split : {false, true}) {
            NmsDriverOptions o;
            o.tile = tile;
            o.split_tile_call = split;
            auto r = greedy_nms(boxes, iou_rows, thr, cmp, o);
            EXPECT_EQ(r.keep.device(), boxes.device());
            EXPECT_ALLEQUAL(r.keep.cpu(), to_tensor(ref_keep))
                << "n=" << n << " thr=" << thr << " tile=" << tile << " split=" << split;
            EXPECT_FALSE(r.owner.defined());
          }
        }
      }
    }
  }
}

TEST_P(NmsDriver, groups_equal_sequential_owners) {
  auto boxes = random_boxes(400, f32(), 60.0);
  const auto full = iou_rows(boxes, boxes);
  for (auto cmp : {NmsCompare::kGreater, NmsCompare::kGreaterEqual}) {
    for (double thr : {0.0, 0.2, 0.5, 1.0}) {
      const auto [ref_keep, ref_owner] = loop_reference(full, thr, cmp);
      for (int64_t tile : {int64_t{1}, int64_t{5}, int64_t{64}}) {
        NmsDriverOptions o;
        o.tile = tile;
        o.want_groups = true;
        o.max_pairs_per_call = 500;  // several column chunks per round
        auto r = greedy_nms(boxes, iou_rows, thr, cmp, o);
        EXPECT_ALLEQUAL(r.keep.cpu(), to_tensor(ref_keep)) << "thr=" << thr << " tile=" << tile;
        EXPECT_ALLEQUAL(r.owner.cpu(), to_tensor(ref_owner)) << "thr=" << thr << " tile=" << tile;
      }
    }
  }
}

TEST_P(NmsDriver, column_chunks_box_dim_and_fast_reduction) {
  auto boxes = random_boxes(500, f32(), 80.0);
  const auto [ref_keep, ref_owner] = loop_reference(iou_rows(boxes, boxes), 0.4, NmsCompare::kGreater);
  for (int64_t max_pairs : {int64_t{1}, int64_t{100}, int64_t{4096}, int64_t{1} << 20}) {
    for (bool fast : {false, true}) {
      NmsDriverOptions o;
      o.max_pairs_per_call = max_pairs;
      o.nan_columns_never_suppressed = fast;
      EXPECT_ALLEQUAL(greedy_nms(boxes, iou_rows, 0.4, NmsCompare::kGreater, o).keep.cpu(), to_tensor(ref_keep));
      o.box_dim = 1;
      EXPECT_ALLEQUAL(greedy_nms(boxes.t().contiguous(), iou_cols, 0.4, NmsCompare::kGreater, o).keep.cpu(),
                      to_tensor(ref_keep))
          << "box_dim=1 max_pairs=" << max_pairs;
    }
  }
}

TEST_P(NmsDriver, long_suppression_chain_inside_one_tile) {
  // Box i overlaps box i+1 only (IoU 0.6): greedy keeps every other box. The in-tile fixed point
  // must walk the whole chain (64 iterations for a tile of 64).
  const int64_t n = 64;
  auto x = at::arange(n, f32()) * 0.25;
  auto boxes = at::stack({x, at::zeros_like(x), x + 1.0, at::ones_like(x)}, 1);
  auto chain_iou = [](const at::Tensor& a, const at::Tensor& b) {
    auto d = (a.select(1, 0).unsqueeze(1) - b.select(1, 0).unsqueeze(0)).abs();  // [T, K]
    return at::where(d < 0.3, at::full_like(d, 0.6), at::zeros_like(d));         // neighbours only
  };
  NmsDriverOptions o;
  o.tile = 64;
  auto r = greedy_nms(boxes, chain_iou, 0.5, NmsCompare::kGreater, o);
  EXPECT_ALLEQUAL(r.keep.cpu(), at::arange(0, n, 2, at::kLong));
}

TEST_P(NmsDriver, nan_iou_never_suppresses) {
  auto boxes = random_boxes(50, f32(), 10.0);  // dense: many overlaps
  auto nan_iou = [](const at::Tensor& a, const at::Tensor& b) {
    return at::full({a.size(0), b.size(0)}, std::numeric_limits<float>::quiet_NaN(), a.options());
  };
  for (auto cmp : {NmsCompare::kGreater, NmsCompare::kGreaterEqual}) {
    NmsDriverOptions o;
    o.want_groups = true;
    auto r = greedy_nms(boxes, nan_iou, 0.0, cmp, o);
    EXPECT_ALLEQUAL(r.keep.cpu(), at::arange(50, at::kLong));
    EXPECT_ALLEQUAL(r.owner.cpu(), at::arange(50, at::kLong));
  }
}

TEST_P(NmsDriver, max_keep_truncates_the_greedy_result) {
  auto boxes = random_boxes(300, f32());
  const auto [ref_keep, ref_owner] = loop_reference(iou_rows(boxes, boxes), 0.3, NmsCompare::kGreater);
  for (int64_t max_keep : {int64_t{1}, int64_t{5}, int64_t{64}, int64_t{65}, int64_t{100000}}) {
    NmsDriverOptions o;
    o.tile = 16;
    o.max_keep = max_keep;
    auto r = greedy_nms(boxes, iou_rows, 0.3, NmsCompare::kGreater, o);
    const int64_t want = std::min<int64_t>(max_keep, static_cast<int64_t>(ref_keep.size()));
    EXPECT_ALLEQUAL(r.keep.cpu(), to_tensor(ref_keep).narrow(0, 0, want)) << "max_keep=" << max_keep;
  }
}

TEST_P(NmsDriver, empty_input_gives_empty_keep_on_device) {
  auto boxes = at::empty({0, 4}, f32());
  NmsDriverOptions o;
  o.want_groups = true;
  auto r = greedy_nms(boxes, iou_rows, 0.5, NmsCompare::kGreater, o);
  EXPECT_EQ(r.keep.numel(), 0);
  EXPECT_EQ(r.keep.scalar_type(), at::kLong);
  EXPECT_EQ(r.keep.device(), boxes.device());
  EXPECT_EQ(r.owner.numel(), 0);
}

TEST_P(NmsDriver, float64_iou_and_identical_boxes) {
  // Identical boxes have IoU exactly 1: > 1 keeps all of them, >= 1 keeps only the first.
  auto one = at::tensor({1.0, 2.0, 5.0, 7.0}, f64());
  auto boxes = one.unsqueeze(0).repeat({10, 1});
  EXPECT_EQ(greedy_nms(boxes, iou_rows, 1.0, NmsCompare::kGreater).keep.numel(), 10);
  EXPECT_ALLEQUAL(greedy_nms(boxes, iou_rows, 1.0, NmsCompare::kGreaterEqual).keep.cpu(), at::zeros({1}, at::kLong));
}

MMCV_INSTANTIATE_DEVICES(NmsDriver);

}  // namespace
