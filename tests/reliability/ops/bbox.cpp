// SPDX-License-Identifier: Apache-2.0
// Reliability specs for include/mmcv/ops/bbox.hpp (bbox_overlaps).

#include <mmcv/ops/bbox.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

// Float64 loop reference from MMCV's definition (IEEE semantics of std::max/min for infinities).
at::Tensor loop_overlaps(const at::Tensor& b1_, const at::Tensor& b2_, const std::string& mode, bool aligned,
                         int64_t offset) {
  auto b1 = b1_.to(at::kCPU, at::kDouble).contiguous().reshape({-1, 4});
  auto b2 = b2_.to(at::kCPU, at::kDouble).contiguous().reshape({-1, 4});
  const int64_t m = b1.size(0), n = b2.size(0);
  auto out = aligned ? at::zeros({m}, at::kDouble) : at::zeros({m, n}, at::kDouble);
  auto p1 = b1.accessor<double, 2>();
  auto p2 = b2.accessor<double, 2>();
  double* po = out.data_ptr<double>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < (aligned ? 1 : n); ++j) {
      const int64_t k = aligned ? i : j;
      const double w = std::max(std::min(p1[i][2], p2[k][2]) - std::max(p1[i][0], p2[k][0]) + offset, 0.0);
      const double h = std::max(std::min(p1[i][3], p2[k][3]) - std::max(p1[i][1], p2[k][1]) + offset, 0.0);
      const double inter = w * h;
      const double a1 = (p1[i][2] - p1[i][0] + offset) * (p1[i][3] - p1[i][1] + offset);
      const double a2 = (p2[k][2] - p2[k][0] + offset) * (p2[k][3] - p2[k][1] + offset);
      po[aligned ? i : i * n + j] = mode == "iou" ? inter / (a1 + a2 - inter) : inter / a1;
    }
  return out;
}

Tensors all_modes(const Tensors& x, bool aligned) {
  Tensors out;
  for (const char* mode : {"iou", "iof"})
    for (int64_t offset : {0, 1}) out.push_back(mmcv::ops::bbox_overlaps(x[0], x[1], mode, aligned, offset));
  // Gradients (autograd) of the default call.
  auto g = mmcv_rel::with_grads([&](const Tensors& y) { return mmcv::ops::bbox_overlaps(y[0], y[1], "iou", aligned); },
                                x, {true, true});
  out.insert(out.end(), g.begin() + 1, g.end());
  return out;
}

Sample generate(Gen& g, bool aligned) {
  Sample s;
  const auto dtype = g.coin(0.7) ? at::kFloat : at::kDouble;
  s.strs["mode"] = g.coin() ? "iou" : "iof";
  s.nums["offset"] = static_cast<double>(g.integer(0, 1));
  s.nums["aligned"] = aligned;
  const int64_t m = g.count(40);
  const int64_t n = aligned ? m : g.count(40);
  const auto sc = g.scale();
  at::Tensor b1 = g.boxes(m, sc, dtype);
  at::Tensor b2 = g.coin(0.1) && n <= m ? b1.narrow(0, 0, n).clone() : g.boxes(n, sc, dtype);
  // Occasionally leading batch dims (the op's [..., m, 4] form).
  if (g.coin(0.15)) {
    const int64_t B = g.integer(1, 3);
    b1 = at::cat({b1.unsqueeze(0).expand({B - 1, m, 4}) * 0.5, b1.unsqueeze(0)}, 0);
    b2 = at::cat({b2.unsqueeze(0).expand({B - 1, n, 4}) * 0.5, b2.unsqueeze(0)}, 0);
  }
  s.add("bboxes1", b1).add("bboxes2", b2);
  if (aligned) {
    s.group({{"bboxes1", b1.dim() - 2}, {"bboxes2", b2.dim() - 2}});
  } else {
    s.group({{"bboxes1", b1.dim() - 2}});
    s.group({{"bboxes2", b2.dim() - 2}});
  }
  return s;
}

void check(const Sample& s, Verdict& v) {
  const auto& b1 = s.t("bboxes1");
  const auto& b2 = s.t("bboxes2");
  const std::string mode = s.str("mode");
  const int64_t offset = s.integer("offset");
  const bool aligned = s.num("aligned") != 0;
  const auto out = mmcv::ops::bbox_overlaps(b1, b2, mode, aligned, offset);
  auto want_shape = b1.sizes().vec();
  want_shape.pop_back();
  if (!aligned) want_shape.push_back(b2.size(-2));
  v.require(out.sizes().vec() == want_shape, "output shape");
  v.require(out.scalar_type() == b1.scalar_type(), "output dtype");
  if (!v.ok()) return;
  const mmcv_test::Tol tol = b1.scalar_type() == at::kDouble ? mmcv_test::Tol{1e-12, 1e-12} : mmcv_test::Tol{1e-5, 1e-6};
  // Batched = per-slice; compare each slice with the float64 loop reference.
  const int64_t slices = b1.dim() == 3 ? b1.size(0) : 1;
  for (int64_t k = 0; k < slices; ++k) {
    const auto x1 = b1.dim() == 3 ? b1[k] : b1;
    const auto x2 = b2.dim() == 3 ? b2[k] : b2;
    const auto o = b1.dim() == 3 ? out[k] : out;
    v.close(o, loop_overlaps(x1, x2, mode, aligned, offset).reshape(o.sizes()), tol, "vs float64 loop reference");
    if (b1.dim() == 3) v.equal(o, mmcv::ops::bbox_overlaps(x1, x2, mode, aligned, offset), "batched == per slice");
  }
  // Range: [0, 1] (NaN only for 0/0, covered by the reference comparison).
  const auto finite = out.masked_select(~at::isnan(out));
  v.require(finite.numel() == 0 || (finite.min().item<double>() >= 0 && finite.max().item<double>() <= 1 + 1e-6),
            "values outside [0, 1]");
  if (b1.dim() != 2) return;
  // Symmetry of IoU (bit-exact: the formula is symmetric).
  if (mode == "iou" && !aligned) v.equal(mmcv::ops::bbox_overlaps(b2, b1, mode, false, offset).t(), out, "iou symmetry");
  // Aligned == diagonal of the full matrix.
  if (aligned) v.equal(out, mmcv::ops::bbox_overlaps(b1, b2, mode, false, offset).diagonal(), "aligned == diagonal");
  // Identical boxes overlap 1 (where the area is positive).
  const auto self = mmcv::ops::bbox_overlaps(b1, b1, mode, true, offset);
  const auto area = (b1.select(1, 2) - b1.select(1, 0) + offset) * (b1.select(1, 3) - b1.select(1, 1) + offset);
  const auto pos = area > 0;
  v.require(at::all(self.masked_select(pos) == 1).item<bool>(), "self-overlap of a non-degenerate box is not 1");
  // Permuting bboxes1's rows permutes the output's rows.
  if (b1.size(0) > 1) {
    const auto perm = at::arange(b1.size(0) - 1, -1, -1, at::kLong);
    // (aligned pairs row i with row i, so both sides are permuted there)
    const auto p2 = aligned ? b2.index_select(0, perm) : b2;
    v.equal(mmcv::ops::bbox_overlaps(b1.index_select(0, perm), p2, mode, aligned, offset), out.index_select(0, perm),
            "row permutation equivariance");
  }
}

at::Tensor boxes_with_row(at::Tensor b, int64_t row, std::initializer_list<double> values) {
  b = b.clone();
  int64_t k = 0;
  for (double x : values) b[row][k++] = x;
  return b;
}

void nan_policy_rows(OpSpec& s) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  s.policy.emplace_back("NaN coordinate: that box's row/column is NaN, others unchanged", [=](Verdict& v) {
    Gen g(7);
    auto b1 = g.boxes(6, Gen::Scale::kNormal, at::kFloat, 0, 0), b2 = g.boxes(5, Gen::Scale::kNormal, at::kFloat, 0, 0);
    const auto clean = mmcv::ops::bbox_overlaps(b1, b2);
    for (int64_t c = 0; c < 4; ++c) {
      auto bad = b1.clone();
      bad[2][c] = nan;
      for (const char* mode : {"iou", "iof"}) {
        const auto out = mmcv::ops::bbox_overlaps(bad, b2, mode);
        v.require(at::isnan(out[2]).all().item<bool>(), std::string(mode) + ": NaN in bboxes1 row 2 col " +
                                                          std::to_string(c) + " did not make row 2 NaN");
        const auto keep = at::tensor({0, 1, 3, 4, 5}, at::kLong);
        v.equal(out.index_select(0, keep), mmcv::ops::bbox_overlaps(b1, b2, mode).index_select(0, keep), "other rows");
      }
      auto bad2 = b2.clone();
      bad2[1][c] = nan;
      const auto out2 = mmcv::ops::bbox_overlaps(b1, bad2);
      v.require(at::isnan(out2.select(1, 1)).all().item<bool>(), "NaN in bboxes2 row 1 did not make column 1 NaN");
      v.equal(out2.index_select(1, at::tensor({0, 2, 3, 4}, at::kLong)),
              clean.index_select(1, at::tensor({0, 2, 3, 4}, at::kLong)), "other columns");
    }
  });
  s.policy.emplace_back("Inf coordinates follow IEEE arithmetic (float64 loop reference)", [=](Verdict& v) {
    Gen g(8);
    auto b1 = g.boxes(4, Gen::Scale::kNormal, at::kFloat, 0, 0), b2 = g.boxes(4, Gen::Scale::kNormal, at::kFloat, 0, 0);
    b1 = boxes_with_row(b1, 0, {0, 0, inf, 10});       // infinitely wide
    b1 = boxes_with_row(b1, 1, {-inf, -inf, inf, inf});  // the whole plane
    b2 = boxes_with_row(b2, 3, {-inf, 0, 5, 5});
    for (const char* mode : {"iou", "iof"})
      for (bool aligned : {false, true})
        for (int64_t offset : {0, 1}) {
          const auto out = mmcv::ops::bbox_overlaps(b1, b2, mode, aligned, offset);
          v.close(out, loop_overlaps(b1, b2, mode, aligned, offset).reshape(out.sizes()), {1e-6, 1e-6},
                  std::string(mode) + (aligned ? " aligned" : "") + " offset " + std::to_string(offset));
        }
  });
}

OpSpec base_spec(bool aligned) {
  OpSpec s;
  s.op = "bbox_overlaps";
  s.inputs = [aligned] {
    Gen g(aligned ? 11 : 12);
    return Tensors{g.boxes(37, Gen::Scale::kNormal, at::kFloat), g.boxes(aligned ? 37 : 23, Gen::Scale::kNormal, at::kFloat)};
  };
  s.call = [aligned](const Tensors& x) { return all_modes(x, aligned); };
  s.args = {{"bboxes1", {"...", "m", "4"}, ArgKind::kFloatHalfOk},
            {"bboxes2", {"...", aligned ? "m" : "n", "4"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = aligned ? std::vector<std::string>{"m"} : std::vector<std::string>{"m", "n"};
  s.generate = [aligned](Gen& g) { return generate(g, aligned); };
  s.check = check;
  s.property_cases = 3000;
  // CUDA uses the same ATen formula; only rounding of fused kernels may differ.
  s.device_tol = mmcv_test::Tol{1e-5, 1e-6};
  s.bench_inputs = [] {
    Gen g(13);
    return Tensors{g.boxes(2000, Gen::Scale::kNormal, at::kFloat), g.boxes(2000, Gen::Scale::kNormal, at::kFloat)};
  };
  return s;
}

}  // namespace

MMCV_RELIABILITY_OP(bbox_overlaps) {
  OpSpec s = base_spec(false);
  const auto b = [] { return Gen(3).boxes(3, Gen::Scale::kNormal, at::kFloat); };
  s.bad = {
      {"mode giou", [=] { mmcv::ops::bbox_overlaps(b(), b(), "giou"); },
       "bbox_overlaps: expected mode to be one of {\"iou\", \"iof\"}, but got \"giou\""},
      {"mode empty", [=] { mmcv::ops::bbox_overlaps(b(), b(), ""); }, "bbox_overlaps: expected mode"},
      {"offset 2", [=] { mmcv::ops::bbox_overlaps(b(), b(), "iou", false, 2); },
       "bbox_overlaps: expected offset to be one of {0, 1}, but got 2"},
      {"offset -1", [=] { mmcv::ops::bbox_overlaps(b(), b(), "iou", false, -1); }, "bbox_overlaps: expected offset"},
      {"batch dims differ", [=] { mmcv::ops::bbox_overlaps(b().reshape({1, 3, 4}), b().reshape({3, 1, 4})); },
       "bbox_overlaps: expected bboxes2 to have the same batch dims as bboxes1"},
      {"1-D non-empty", [=] { mmcv::ops::bbox_overlaps(b().reshape({-1}), b()); },
       "bbox_overlaps: expected bboxes1 to have shape [..., m, 4]"},
  };
  s.views = {
      {"boxes as a column slice of a wider tensor",
       [=] {
         auto wide = at::cat({b(), at::full({3, 2}, NAN)}, 1);
         return Tensors{mmcv::ops::bbox_overlaps(wide.narrow(1, 0, 4), b())};
       },
       [=] { return Tensors{mmcv::ops::bbox_overlaps(b(), b())}; }},
      {"reversed rows (flip) equals reversed result",
       [=] {
         auto r = at::arange(2, -1, -1, at::kLong);
         return Tensors{mmcv::ops::bbox_overlaps(b().flip({0}), b()).index_select(0, r)};
       },
       [=] { return Tensors{mmcv::ops::bbox_overlaps(b(), b())}; }},
      {"empty 1-D means no boxes", [=] { return Tensors{mmcv::ops::bbox_overlaps(at::empty({0}), b())}; },
       [=] { return Tensors{at::empty({0, 3})}; }},
  };
  nan_policy_rows(s);
  return s;
}

MMCV_RELIABILITY_OP(bbox_overlaps_aligned) {
  OpSpec s = base_spec(true);
  nan_policy_rows(s);  // the rows cover aligned mode too
  return s;
}
