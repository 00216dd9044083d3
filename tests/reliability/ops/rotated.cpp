// SPDX-License-Identifier: Apache-2.0
// Reliability specs for the rotated / quadrilateral family: box_iou_rotated, box_iou_quadri,
// nms_rotated, nms_quadri (include/mmcv/ops/nms.hpp), roi_align_rotated. References: the float64
// loops of tests/ops/polygon_reference.hpp (MMCV's corner formula + exact clipping; MMCV's
// quadrilateral rule + hull; greedy NMS) and tests/ops/roi_align_rotated_reference.hpp (MMCV's
// CPU kernel).

#include <mmcv/ops/box_iou_quadri.hpp>
#include <mmcv/ops/box_iou_rotated.hpp>
#include <mmcv/ops/nms.hpp>
#include <mmcv/ops/roi_align_rotated.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "ops/polygon_reference.hpp"
#include "ops/roi_align_rotated_reference.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

// Rotated boxes (cx, cy, w, h, angle) from the generator's axis-aligned boxes (its regimes:
// normal, huge, tiny, integer grid; degenerate and duplicated rows), pulled into a cluster so
// that pairs overlap; angles uniform, or exact multiples of pi/4 (exact contacts), or shared.
at::Tensor rotated_boxes(Gen& g, int64_t n, Gen::Scale sc, at::ScalarType dt) {
  auto b = g.boxes(n, sc, at::kDouble, 0.05, 0.1);
  if (n == 0) return at::empty({0, 5}, dt);
  auto c = (b.narrow(1, 0, 2) + b.narrow(1, 2, 2)) / 2;
  const auto wh = b.narrow(1, 2, 2) - b.narrow(1, 0, 2);
  if (sc == Gen::Scale::kNormal && g.coin(0.8)) c = c * 0.2 + g.uniform(0, 100);
  std::vector<double> a(static_cast<size_t>(n));
  const int mode = static_cast<int>(g.integer(0, 2));
  const double shared = g.uniform(-kPi, kPi);
  for (auto& x : a) {
    x = mode == 0 ? g.uniform(-kPi, kPi)
                  : mode == 1 ? static_cast<double>(g.integer(-4, 4)) * (kPi / 4) : shared;
  }
  auto out = at::cat({c, wh, at::tensor(a, at::kDouble).view({n, 1})}, 1);
  // Exact duplicates of earlier rows.
  for (int64_t i = 1; i < n; ++i)
    if (g.coin(0.05)) out[i].copy_(out[g.integer(0, i - 1)]);
  return out.to(dt);
}

// Quadrilaterals: corners of rotated boxes (MMCV's vertex order), jittered by up to 10% of the
// box size in some sets, point order reversed or rotated in some rows, a few arbitrary quads
// (possibly non-convex or self-intersecting).
at::Tensor quads(Gen& g, int64_t n, Gen::Scale sc, at::ScalarType dt) {
  const auto r = rotated_boxes(g, n, sc, at::kDouble);
  if (n == 0) return at::empty({0, 8}, dt);
  const double jitter = g.pick({0.0, 0.0, 0.02, 0.1});
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) {
    const double cx = r[i][0].item<double>(), cy = r[i][1].item<double>(), w = r[i][2].item<double>(),
                 h = r[i][3].item<double>(), a = r[i][4].item<double>();
    auto p = polygon_ref::rotated_corners(cx, cy, w, h, a);
    const double size = std::max(std::abs(w), std::abs(h));
    for (auto& q : p) {
      q.x += jitter * size * g.uniform(-1, 1);
      q.y += jitter * size * g.uniform(-1, 1);
    }
    if (g.coin(0.1)) std::reverse(p.begin() + 1, p.end());
    if (g.coin(0.1)) std::rotate(p.begin(), p.begin() + 1, p.end());
    if (g.coin(0.03)) std::swap(p[1], p[2]);  // bow-tie
    if (sc == Gen::Scale::kIntegerGrid)
      for (auto& q : p) q = {std::round(q.x), std::round(q.y)};
    for (const auto& q : p) v.insert(v.end(), {q.x, q.y});
  }
  return at::tensor(v, at::kDouble).view({n, 8}).to(dt);
}

// Per-pair tolerance for the comparison with the float64 reference: rounding moves the corners
// (relative to the pair) by ~eps * L, so the overlap and the areas move by ~eps * L * perimeters,
// and the result by that over its denominator (the union, or area1 for iof). Degenerate pairs
// (a denominator that cancels, a quad whose area is at MMCV's 1e-14 rule) get a loose bound:
// MMCV's own result there depends on its rounding. Returns a negative value for "do not compare".
double pair_tol(const std::vector<double>& a, const std::vector<double>& b, bool quad, bool iof, double eps,
                const polygon_ref::Parts& parts) {
  double lo = 0, per = 0;
  if (quad) {
    for (int i = 0; i < 8; ++i) lo = std::max({lo, std::abs(a[i] - b[i % 2]), std::abs(b[i] - a[i % 2])});
    for (int i = 0; i < 4; ++i) {
      per += std::hypot(a[2 * ((i + 1) % 4)] - a[2 * i], a[2 * ((i + 1) % 4) + 1] - a[2 * i + 1]);
      per += std::hypot(b[2 * ((i + 1) % 4)] - b[2 * i], b[2 * ((i + 1) % 4) + 1] - b[2 * i + 1]);
    }
  } else {
    lo = std::max(std::abs(a[0] - b[0]), std::abs(a[1] - b[1])) +
         std::max({std::abs(a[2]), std::abs(a[3]), std::abs(b[2]), std::abs(b[3])});
    per = 2 * (std::abs(a[2]) + std::abs(a[3]) + std::abs(b[2]) + std::abs(b[3]));
  }
  const double err = 256 * eps * lo * per;  // absolute error of areas / intersection
  // Near MMCV's 1e-14 area rule, rounding decides whether the pair is 0: no comparison.
  for (double area : {parts.area1, parts.area2})
    if (std::abs(area - 1e-14) <= err + 1e-6 * 1e-14) return -1;
  if (parts.early_zero) return 1e-12;
  const double den = iof ? parts.area1 : parts.area1 + parts.area2 - parts.inter;
  if (!(std::abs(den) > err)) return -1;  // the denominator is within rounding of 0
  return 1e-6 + err * (1 + std::abs(parts.value(iof))) / std::abs(den);
}

// ---------------------------------------------------------------------------------------------
// box_iou_rotated / box_iou_quadri
// ---------------------------------------------------------------------------------------------

Sample iou_sample(Gen& g, bool aligned, bool quad) {
  Sample s;
  const auto dt = g.coin(0.7) ? at::kFloat : at::kDouble;
  const auto sc = g.scale();
  const int64_t m = g.count(30), n = aligned ? m : g.count(30);
  auto all = quad ? quads(g, m + n, sc, dt) : rotated_boxes(g, m + n, sc, dt);
  s.strs["mode"] = g.coin() ? "iou" : "iof";
  s.nums["aligned"] = aligned;
  s.nums["clockwise"] = g.coin();
  s.add("bboxes1", all.narrow(0, 0, m).clone()).add("bboxes2", all.narrow(0, m, n).clone());
  if (aligned) {
    s.group({{"bboxes1", 0}, {"bboxes2", 0}});
  } else {
    s.group({{"bboxes1", 0}});
    s.group({{"bboxes2", 0}});
  }
  return s;
}

at::Tensor call_iou(const at::Tensor& b1, const at::Tensor& b2, const std::string& mode, bool aligned, bool cw,
                    bool quad) {
  return quad ? mmcv::ops::box_iou_quadri(b1, b2, mode, aligned) : mmcv::ops::box_iou_rotated(b1, b2, mode, aligned, cw);
}

void check_iou(const Sample& s, Verdict& v, bool quad) {
  const auto& b1 = s.t("bboxes1");
  const auto& b2 = s.t("bboxes2");
  const std::string mode = s.str("mode");
  const bool aligned = s.num("aligned") != 0, cw = s.num("clockwise") != 0;
  const auto out = call_iou(b1, b2, mode, aligned, cw, quad);
  const auto want = aligned ? std::vector<int64_t>{b1.size(0)} : std::vector<int64_t>{b1.size(0), b2.size(0)};
  v.require(out.sizes().vec() == want, "output shape");
  v.require(out.scalar_type() == b1.scalar_type(), "output dtype");
  if (!v.ok()) return;
  const double eps = b1.scalar_type() == at::kDouble ? 2.2e-16 : 1.2e-7;
  const auto r1 = polygon_ref::rows(b1), r2 = polygon_ref::rows(b2);
  const auto o = out.to(at::kDouble).contiguous();
  const double* po = o.data_ptr<double>();
  const int64_t n = b2.size(0);
  for (int64_t i = 0; i < b1.size(0) && v.ok(); ++i)
    for (int64_t j = 0; j < (aligned ? 1 : n) && v.ok(); ++j) {
      const auto& a = r1[i];
      const auto& b = r2[aligned ? i : j];
      const auto parts = quad ? polygon_ref::quadri_parts(a, b) : polygon_ref::rotated_parts(a, b, cw);
      const double ref = parts.value(mode == "iof");
      const double got = po[aligned ? i : i * n + j];
      const double tol = pair_tol(a, b, quad, mode == "iof", eps, parts);
      if (tol < 0) continue;  // ill-conditioned: MMCV's own answer depends on its rounding
      const bool same = (std::isnan(ref) && std::isnan(got)) || (std::isinf(ref) && got == ref) ||
                        std::abs(got - ref) <= tol;
      v.require(same, "pair (" + std::to_string(i) + ", " + std::to_string(aligned ? i : j) + "): " +
                          std::to_string(got) + " vs float64 reference " + std::to_string(ref));
    }
  if (!v.ok()) return;
  if (aligned) {
    v.equal(out, call_iou(b1, b2, mode, false, cw, quad).diagonal(), "aligned == diagonal of all pairs");
  } else if (b1.size(0) > 1) {
    const auto perm = at::arange(b1.size(0) - 1, -1, -1, at::kLong);
    v.equal(call_iou(b1.index_select(0, perm), b2, mode, false, cw, quad), out.index_select(0, perm),
            "row permutation equivariance (bit for bit)");
  }
  if (!quad) {  // rectangles: values in [0, 1] up to rounding
    const auto fin = out.masked_select(at::isfinite(out));
    v.require(fin.numel() == 0 || (fin.min().item<double>() >= 0 && fin.max().item<double>() <= 1 + 1e-4),
              "IoU outside [0, 1]");
  }
}

void iou_bad_rows(OpSpec& s, bool quad) {
  const std::string op = quad ? "box_iou_quadri" : "box_iou_rotated";
  const auto b = [quad] {
    Gen g(5);
    return quad ? quads(g, 3, Gen::Scale::kNormal, at::kFloat) : rotated_boxes(g, 3, Gen::Scale::kNormal, at::kFloat);
  };
  s.bad.push_back({"mode giou", [=] { call_iou(b(), b(), "giou", false, true, quad); },
                   op + ": expected mode to be one of {\"iou\", \"iof\"}, but got \"giou\""});
  s.bad.push_back({"aligned, different lengths", [=] { call_iou(b(), b().narrow(0, 0, 2), "iou", true, true, quad); },
                   op + ": expected bboxes2 to have shape [N, " + (quad ? "8" : "5") + "] (with N = 3)"});
  s.views.push_back({"column slice of a wider tensor",
                     [=] {
                       auto wide = at::cat({b(), at::full({3, 2}, NAN)}, 1);
                       return Tensors{call_iou(wide.narrow(1, 0, quad ? 8 : 5), b(), "iou", false, true, quad)};
                     },
                     [=] { return Tensors{call_iou(b(), b(), "iou", false, true, quad)}; }});
}

OpSpec iou_spec(bool aligned, bool quad) {
  OpSpec s;
  s.op = quad ? "box_iou_quadri" : "box_iou_rotated";
  const int64_t w = quad ? 8 : 5;
  s.inputs = [=] {
    Gen g(aligned ? 21 : 22);
    auto all = quad ? quads(g, 60, Gen::Scale::kNormal, at::kFloat) : rotated_boxes(g, 60, Gen::Scale::kNormal, at::kFloat);
    return Tensors{all.narrow(0, 0, 30).clone(), all.narrow(0, 30, aligned ? 30 : 25).clone()};
  };
  s.call = [=](const Tensors& x) {
    Tensors out;
    for (const char* mode : {"iou", "iof"}) out.push_back(call_iou(x[0], x[1], mode, aligned, true, quad));
    if (!quad) out.push_back(call_iou(x[0], x[1], "iou", aligned, false, quad));
    return out;
  };
  const std::string ws = std::to_string(w);
  s.args = {{"bboxes1", {"N", ws}, ArgKind::kFloat}, {"bboxes2", {aligned ? "N" : "M", ws}, ArgKind::kFloat}};
  s.empty_dims = aligned ? std::vector<std::string>{"N"} : std::vector<std::string>{"N", "M"};
  s.generate = [=](Gen& g) { return iou_sample(g, aligned, quad); };
  s.check = [=](const Sample& x, Verdict& v) { check_iou(x, v, quad); };
  s.property_cases = 1500;
  s.device_tol = mmcv_test::Tol{1e-4, 1e-5};  // same algorithm; fused-kernel rounding may differ
  s.bench_inputs = [=] {
    Gen g(23);
    auto all = quad ? quads(g, 2000, Gen::Scale::kNormal, at::kFloat) : rotated_boxes(g, 2000, Gen::Scale::kNormal, at::kFloat);
    return Tensors{all.narrow(0, 0, 1000).clone(), all.narrow(0, 1000, 1000).clone()};
  };
  return s;
}

void rotated_nan_rows(OpSpec& s) {
  s.policy.emplace_back(
      "NaN/Inf in a box: intersection 0 (IoU 0), NaN w or h: NaN (iou: row or column; iof: row), as MMCV's kernel",
      [](Verdict& v) {
        Gen g(24);
        auto good = rotated_boxes(g, 4, Gen::Scale::kNormal, at::kFloat);
        good.select(1, 2).clamp_min_(1);
        good.select(1, 3).clamp_min_(1);
        const auto clean = mmcv::ops::box_iou_rotated(good, good);
        const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
        for (int col = 0; col < 5; ++col)
          for (double bad : {nan, inf}) {
            auto b = good.clone();
            b[1][col] = bad;
            const bool nan_area = std::isnan(bad) && (col == 2 || col == 3);
            for (const char* mode : {"iou", "iof"}) {
              const auto out = mmcv::ops::box_iou_rotated(b, good, mode);
              const auto row = out[1];
              v.require(nan_area ? at::isnan(row).all().item<bool>() : (row == 0).all().item<bool>(),
                        std::string(mode) + ": row of a box with a non-finite value in column " + std::to_string(col));
              const auto others = at::tensor({0, 2, 3}, at::kLong);
              v.equal(out.index_select(0, others), mmcv::ops::box_iou_rotated(good, good, mode).index_select(0, others),
                      "other rows unchanged");
              const auto col_out = mmcv::ops::box_iou_rotated(good, b, mode).select(1, 1);
              const bool col_nan = nan_area && std::string(mode) == "iou";
              v.require(col_nan ? at::isnan(col_out).all().item<bool>() : (col_out == 0).all().item<bool>(),
                        std::string(mode) + ": column of a box with a non-finite value");
            }
          }
        (void)clean;
      });
}

void quadri_nan_rows(OpSpec& s) {
  s.policy.emplace_back("NaN/Inf coordinate: every pair with that quad is NaN (MMCV's shift makes both areas NaN)",
                        [](Verdict& v) {
                          Gen g(25);
                          auto good = quads(g, 4, Gen::Scale::kNormal, at::kFloat);
                          for (int col = 0; col < 8; ++col)
                            for (double bad : {std::numeric_limits<double>::quiet_NaN(),
                                               -std::numeric_limits<double>::infinity()}) {
                              auto b = good.clone();
                              b[2][col] = bad;
                              const auto out = mmcv::ops::box_iou_quadri(b, good);
                              v.require(at::isnan(out[2]).all().item<bool>(), "row of the bad quad is not NaN");
                              const auto others = at::tensor({0, 1, 3}, at::kLong);
                              v.equal(out.index_select(0, others),
                                      mmcv::ops::box_iou_quadri(good, good).index_select(0, others), "other rows");
                              v.require(at::isnan(mmcv::ops::box_iou_quadri(good, b, "iof").select(1, 2)).all().item<bool>(),
                                        "column of the bad quad is not NaN");
                            }
                        });
}

// ---------------------------------------------------------------------------------------------
// nms_rotated / nms_quadri
// ---------------------------------------------------------------------------------------------

double threshold(Gen& g) {
  const double r = g.uniform();
  if (r < 0.1) return 0.0;
  if (r < 0.2) return 1.0;
  if (r < 0.4) return g.pick({0.3, 0.5, 0.7});
  return g.uniform(0, 1);
}

Sample nms_sample(Gen& g, bool quad) {
  Sample s;
  const auto dt = g.coin(0.7) ? at::kFloat : at::kDouble;
  const int64_t n = g.count(40);
  const auto sc = g.scale();
  s.add("dets", quad ? quads(g, n, sc, dt) : rotated_boxes(g, n, sc, dt));
  s.add("scores", g.scores(n, dt, g.coin(0.3)));
  s.nums["iou_threshold"] = threshold(g);
  s.nums["clockwise"] = g.coin();
  s.nums["labels"] = g.coin(0.3);
  s.group({{"dets", 0}, {"scores", 0}});
  return s;
}

void check_nms(const Sample& s, Verdict& v, bool quad) {
  const auto& dets = s.t("dets");
  const auto& scores = s.t("scores");
  const double thr = s.num("iou_threshold");
  const bool cw = s.num("clockwise") != 0;
  std::optional<at::Tensor> labels;
  if (s.num("labels") != 0) labels = at::arange(dets.size(0), at::kLong).remainder(3);  // ignored, as MMCV
  auto [out, keep] = quad ? mmcv::ops::nms_quadri(dets, scores, thr, labels)
                          : mmcv::ops::nms_rotated(dets, scores, thr, labels, cw);
  v.require(keep.scalar_type() == at::kLong && keep.dim() == 1, "keep must be int64 [K]");
  if (dets.size(0) == 0) {
    v.require(keep.numel() == 0 && out.sizes() == dets.sizes(), "empty input: (dets, empty index)");
    return;
  }
  v.require(out.dim() == 2 && out.size(0) == keep.size(0) && out.size(1) == dets.size(1) + 1, "dets shape");
  if (!v.ok()) return;
  v.equal(out, at::cat({dets.index_select(0, keep), scores.index_select(0, keep).unsqueeze(1)}, 1),
          "dets == [dets[keep], scores[keep]]");
  // Greedy NMS over the op's own IoU matrix (same per-pair arithmetic): visit in stable
  // descending score order, suppress at IoU >= thr (the threshold as float32).
  const auto m = quad ? mmcv::ops::box_iou_quadri(dets, dets) : mmcv::ops::box_iou_rotated(dets, dets, "iou", false, cw);
  const auto iou = m.to(at::kDouble).contiguous();
  const int64_t n = dets.size(0);
  const auto sc = polygon_ref::rows(scores.view({n, 1}));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const double x = sc[a][0], y = sc[b][0];
    return (std::isnan(x) && !std::isnan(y)) || x > y;  // NaN sorts first, as ATen's descending sort
  });
  const double t = dets.scalar_type() == at::kDouble ? static_cast<double>(static_cast<float>(thr))
                                                     : static_cast<double>(static_cast<float>(static_cast<float>(thr)));
  std::vector<char> sup(static_cast<size_t>(n), 0);
  std::vector<int64_t> want;
  const double* pi = iou.data_ptr<double>();
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = order[a];
    if (sup[i]) continue;
    want.push_back(i);
    for (int64_t b = a + 1; b < n; ++b) {
      const int64_t j = order[b];
      if (!sup[j] && pi[i * n + j] >= t) sup[j] = 1;
    }
  }
  v.equal(keep, at::tensor(want, at::kLong), "keep vs greedy NMS over box_iou's matrix");
  // And the float64 reference, when no IoU is within rounding of the threshold.
  const auto rr = polygon_ref::rows(dets);
  const double eps = dets.scalar_type() == at::kDouble ? 2.2e-16 : 1.2e-7;
  bool clear = true;
  for (int64_t i = 0; i < n && clear; ++i)
    for (int64_t j = 0; j < n && clear; ++j) {
      if (i == j) continue;
      const auto parts = quad ? polygon_ref::quadri_parts(rr[i], rr[j]) : polygon_ref::rotated_parts(rr[i], rr[j], cw);
      const double tol = pair_tol(rr[i], rr[j], quad, false, eps, parts);
      if (tol < 0 || std::abs(pi[i * n + j] - t) <= 4 * tol) clear = false;
    }
  if (clear) {
    const auto ref = polygon_ref::greedy_nms(dets, scores, t, [&](const std::vector<double>& a, const std::vector<double>& b) {
      return quad ? polygon_ref::quadri_iou(a, b, false) : polygon_ref::rotated_iou(a, b, false, cw);
    });
    if (!at::isnan(scores).any().item<bool>())
      v.equal(keep, at::tensor(ref, at::kLong), "keep vs float64 greedy loop reference");
  }
}

OpSpec nms_spec(bool quad) {
  OpSpec s;
  s.op = quad ? "nms_quadri" : "nms_rotated";
  s.inputs = [quad] {
    Gen g(quad ? 31 : 32);
    return Tensors{quad ? quads(g, 80, Gen::Scale::kNormal, at::kFloat) : rotated_boxes(g, 80, Gen::Scale::kNormal, at::kFloat),
                   g.scores(80, at::kFloat, true)};
  };
  s.call = [quad](const Tensors& x) {
    auto g = mmcv_rel::with_grads(
        [quad](const Tensors& y) {
          return std::get<0>(quad ? mmcv::ops::nms_quadri(y[0], y[1], 0.4) : mmcv::ops::nms_rotated(y[0], y[1], 0.4));
        },
        x, {true, true});
    g.push_back(std::get<1>(quad ? mmcv::ops::nms_quadri(x[0], x[1], 0.4) : mmcv::ops::nms_rotated(x[0], x[1], 0.4)));
    return g;
  };
  s.args = {{"dets", {"N", quad ? "8" : "5"}, ArgKind::kFloat}, {"scores", {"N"}, ArgKind::kFloat}};
  s.empty_dims = {"N"};
  const auto x = [quad] {
    Gen g(33);
    return Tensors{quad ? quads(g, 5, Gen::Scale::kNormal, at::kFloat) : rotated_boxes(g, 5, Gen::Scale::kNormal, at::kFloat),
                   g.scores(5, at::kFloat, false)};
  };
  const std::string op = s.op;
  const auto call = [quad](const Tensors& t, double thr, const std::optional<at::Tensor>& labels) {
    return quad ? mmcv::ops::nms_quadri(t[0], t[1], thr, labels) : mmcv::ops::nms_rotated(t[0], t[1], thr, labels);
  };
  s.bad = {
      {"iou_threshold 1.5", [=] { call(x(), 1.5, std::nullopt); }, op + ": expected iou_threshold to be in [0, 1], but got 1.5"},
      {"iou_threshold -0.1", [=] { call(x(), -0.1, std::nullopt); }, op + ": expected iou_threshold to be in [0, 1]"},
      {"iou_threshold NaN", [=] { call(x(), NAN, std::nullopt); }, op + ": expected iou_threshold"},
      {"labels of another length", [=] { call(x(), 0.5, at::zeros({4}, at::kLong)); },
       op + ": expected labels to have shape [N] (with N = 5), but got [4]"},
      {"labels 2-D", [=] { call(x(), 0.5, at::zeros({5, 1}, at::kLong)); }, op + ": expected labels to have shape [N]"},
  };
  s.policy.emplace_back("NaN IoU never suppresses; NaN scores sort first (MMCV's sort and >=)", [quad, call](Verdict& v) {
    Gen g(34);
    auto t = Tensors{quad ? quads(g, 6, Gen::Scale::kNormal, at::kFloat) : rotated_boxes(g, 6, Gen::Scale::kNormal, at::kFloat),
                     g.scores(6, at::kFloat, false)};
    t[0] = t[0].index_select(0, at::zeros({6}, at::kLong)).clone();  // six identical boxes
    t[1] = at::tensor({0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f});
    auto bad = t;
    bad[0] = t[0].clone();
    bad[0][2][quad ? 0 : 2] = NAN;  // box 2's IoUs are NaN: kept, suppresses nothing
    v.equal(std::get<1>(call(bad, 0.5, std::nullopt)), at::tensor({0, 2}, at::kLong), "NaN box kept, others suppressed");
    auto ns = t;
    ns[1] = t[1].clone();
    ns[1][4] = NAN;  // sorts first
    v.equal(std::get<1>(call(ns, 0.5, std::nullopt)), at::tensor({4}, at::kLong), "NaN score first");
  });
  s.generate = [quad](Gen& g) { return nms_sample(g, quad); };
  s.check = [quad](const Sample& x, Verdict& v) { check_nms(x, v, quad); };
  s.property_cases = 1000;
  s.device_tol = mmcv_test::Tol{1e-6, 1e-6};
  s.bench_inputs = [quad] {
    Gen g(35);
    return Tensors{quad ? quads(g, 2000, Gen::Scale::kNormal, at::kFloat) : rotated_boxes(g, 2000, Gen::Scale::kNormal, at::kFloat),
                   g.scores(2000, at::kFloat, false)};
  };
  return s;
}

// ---------------------------------------------------------------------------------------------
// roi_align_rotated
// ---------------------------------------------------------------------------------------------

at::Tensor random_rrois(Gen& g, int64_t K, int64_t B, int64_t H, int64_t W, double scale, at::ScalarType dt) {
  std::vector<double> v;
  const double iw = W / scale, ih = H / scale;
  for (int64_t k = 0; k < K; ++k) {
    const double b = static_cast<double>(g.integer(0, B - 1)) + (g.coin(0.1) ? 0.75 : 0.0);
    double cx, cy, w, h, a;
    const double r = g.uniform();
    if (r < 0.6) {
      cx = g.uniform(-0.2 * iw, 1.2 * iw), cy = g.uniform(-0.2 * ih, 1.2 * ih), w = g.uniform(0, iw), h = g.uniform(0, ih);
      a = g.uniform(-kPi, kPi);
    } else if (r < 0.75) {  // integer grid, axis-aligned or quarter turns: samples on pixel edges
      cx = static_cast<double>(g.integer(-2, static_cast<int64_t>(iw))), cy = static_cast<double>(g.integer(-2, static_cast<int64_t>(ih)));
      w = static_cast<double>(g.integer(0, static_cast<int64_t>(iw))), h = static_cast<double>(g.integer(0, static_cast<int64_t>(ih)));
      a = static_cast<double>(g.integer(-2, 2)) * kPi / 2;
    } else if (r < 0.85) {  // degenerate
      cx = g.uniform(0, iw), cy = g.uniform(0, ih), w = g.coin() ? 0 : g.uniform(0, 1), h = g.coin() ? 0 : g.uniform(0, 1);
      a = g.uniform(-kPi, kPi);
    } else {  // far outside / huge
      cx = g.pick({-1e4, 1e4, -3 * iw}), cy = g.uniform(-3 * ih, 3 * ih), w = g.uniform(0, 4 * iw), h = g.uniform(0, 4 * ih);
      a = g.uniform(-kPi, kPi);
    }
    v.insert(v.end(), {b, cx, cy, w, h, a});
  }
  return at::tensor(v, at::kDouble).reshape({K, 6}).to(dt);
}

Tensors rroi_inputs(uint64_t seed, int64_t B, int64_t C, int64_t H, int64_t W, int64_t K, double scale) {
  Gen g(seed);
  return {g.uniform_tensor({B, C, H, W}, -5, 5, at::kFloat), random_rrois(g, K, B, H, W, scale, at::kFloat)};
}

Sample rroi_sample(Gen& g) {
  Sample s;
  const auto dt = g.coin(0.7) ? at::kFloat : at::kDouble;
  const int64_t B = g.integer(1, 3), C = g.integer(1, 3), H = g.integer(1, 9), W = g.integer(1, 9);
  const double scale = g.pick({1.0, 0.5, 0.25});
  s.nums["spatial_scale"] = scale;
  s.nums["oh"] = static_cast<double>(g.integer(1, 4));
  s.nums["ow"] = static_cast<double>(g.integer(1, 4));
  s.nums["sampling_ratio"] = static_cast<double>(g.pick<int64_t>({0, 0, 1, 2, 3}));
  s.nums["aligned"] = g.coin();
  s.nums["clockwise"] = g.coin();
  s.add("input", g.uniform_tensor({B, C, H, W}, -5, 5, dt));
  s.add("rois", random_rrois(g, g.count(8), B, H, W, scale, dt));
  s.group({{"rois", 0}});
  return s;
}

void check_rroi(const Sample& s, Verdict& v) {
  const auto& input = s.t("input");
  auto rois = s.t("rois");
  const int64_t PH = s.integer("oh"), PW = s.integer("ow"), sr = s.integer("sampling_ratio");
  const bool aligned = s.num("aligned") != 0, cw = s.num("clockwise") != 0;
  const double scale = s.num("spatial_scale");
  if (aligned) rois = at::cat({rois.narrow(1, 0, 3), rois.narrow(1, 3, 2).abs(), rois.narrow(1, 5, 1)}, 1);
  const auto x = input.detach().requires_grad_(true);
  const auto out = mmcv::ops::roi_align_rotated(x, rois, {PH, PW}, scale, sr, aligned, cw);
  v.require(out.sizes() == at::IntArrayRef({rois.size(0), input.size(1), PH, PW}), "output shape");
  v.require(out.scalar_type() == input.scalar_type(), "output dtype");
  if (!v.ok()) return;
  const auto g = at::sin(at::arange(out.numel(), out.options().requires_grad(false))).view(out.sizes());
  const auto ref = roi_align_rotated_ref::loop_reference(input, rois, PH, PW, scale, sr, aligned, cw, g);
  const mmcv_test::Tol tol = input.scalar_type() == at::kDouble ? mmcv_test::Tol{1e-9, 1e-9} : mmcv_test::Tol{1e-4, 1e-4};
  v.close(out, ref.out, tol, "vs MMCV CPU loop reference");
  if (rois.size(0) > 0) v.close(mmcv_test::vjp(out, g, {x})[0], ref.grad, tol, "input gradient vs MMCV backward loop");
  // Batch order equivariance (bit for bit).
  auto fr = rois.clone();
  if (fr.size(0)) fr.select(1, 0).copy_(static_cast<double>(input.size(0) - 1) - rois.select(1, 0).trunc());
  v.equal(mmcv::ops::roi_align_rotated(input.flip({0}), fr, {PH, PW}, scale, sr, aligned, cw), out.detach(),
          "batch order equivariance");
}

}  // namespace

MMCV_RELIABILITY_OP(box_iou_rotated) {
  OpSpec s = iou_spec(false, false);
  iou_bad_rows(s, false);
  rotated_nan_rows(s);
  return s;
}

MMCV_RELIABILITY_OP(box_iou_rotated_aligned) {
  OpSpec s = iou_spec(true, false);
  rotated_nan_rows(s);
  return s;
}

MMCV_RELIABILITY_OP(box_iou_quadri) {
  OpSpec s = iou_spec(false, true);
  iou_bad_rows(s, true);
  quadri_nan_rows(s);
  return s;
}

MMCV_RELIABILITY_OP(box_iou_quadri_aligned) {
  OpSpec s = iou_spec(true, true);
  quadri_nan_rows(s);
  return s;
}

MMCV_RELIABILITY_OP(nms_rotated) { return nms_spec(false); }

MMCV_RELIABILITY_OP(nms_quadri) { return nms_spec(true); }

MMCV_RELIABILITY_OP(roi_align_rotated) {
  OpSpec s;
  s.op = "roi_align_rotated";
  s.inputs = [] { return rroi_inputs(91, 2, 4, 24, 32, 16, 0.5); };
  s.call = [](const Tensors& x) {
    auto g = mmcv_rel::with_grads(
        [](const Tensors& y) { return mmcv::ops::roi_align_rotated(y[0], y[1], {7, 7}, 0.5, 0, false, false); }, x,
        {true, false});
    g.push_back(mmcv::ops::roi_align_rotated(x[0], x[1], {3, 5}, 0.5, 2, false, true));
    return g;
  };
  s.args = {{"input", {"B", "C", "H", "W"}, ArgKind::kFloatHalfOk}, {"rois", {"K", "6"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"K", "C"};
  s.int_params = {
      {"output_size[0]", [](const Tensors& x, int64_t v) { return Tensors{mmcv::ops::roi_align_rotated(x[0], x[1].narrow(0, 0, std::min<int64_t>(2, x[1].size(0))), {v, 2}, 0.5, 1)}; }},
      {"output_size", [](const Tensors& x, int64_t v) { return Tensors{mmcv::ops::roi_align_rotated(x[0], x[1].narrow(0, 0, std::min<int64_t>(2, x[1].size(0))), v, 0.5, 1)}; }},
      {"sampling_ratio", [](const Tensors& x, int64_t v) { return Tensors{mmcv::ops::roi_align_rotated(x[0], x[1].narrow(0, 0, std::min<int64_t>(2, x[1].size(0))), 2, 0.5, v)}; }},
  };
  const auto x = [] { return rroi_inputs(3, 2, 2, 6, 7, 3, 1.0); };
  const auto with_roi = [x](int col, double val) {
    auto r = x()[1].clone();
    r[0][col] = val;
    return r;
  };
  const std::string op = "roi_align_rotated";
  s.bad = {
      {"output_size 0", [=] { mmcv::ops::roi_align_rotated(x()[0], x()[1], {0, 2}); }, op + ": expected output_size to be positive"},
      {"output_size of 3 values", [=] { mmcv::ops::roi_align_rotated(x()[0], x()[1], {2, 2, 2}); }, op + ": expected output_size"},
      {"spatial_scale NaN", [=] { mmcv::ops::roi_align_rotated(x()[0], x()[1], {2, 2}, NAN); }, op + ": expected spatial_scale"},
      {"sampling_ratio -1", [=] { mmcv::ops::roi_align_rotated(x()[0], x()[1], {2, 2}, 1.0, -1); },
       op + ": expected sampling_ratio to be non-negative"},
      {"batch index = B", [=] { mmcv::ops::roi_align_rotated(x()[0], with_roi(0, 2.0), {2, 2}); },
       op + ": expected rois[:, 0] (batch index)"},
      {"H = 0", [=] { mmcv::ops::roi_align_rotated(at::zeros({2, 2, 0, 7}), x()[1], {2, 2}); }, op + ": expected input height"},
      {"aligned, negative width", [=] { mmcv::ops::roi_align_rotated(x()[0], with_roi(3, -5.0), {2, 2}, 1.0, 0, true); },
       op + ": expected the scaled width and height of every roi (aligned=True)"},
  };
  s.policy.emplace_back("NaN features as MMCV's CPU kernel (zero-weight taps read; outside samples read pixel (0, 0))",
                        [](Verdict& v) {
                          auto in = rroi_inputs(92, 2, 3, 6, 7, 12, 1.0);
                          in[0][0][1][0][0] = NAN;
                          in[0][1][2][3][4] = NAN;
                          for (bool aligned : {true, false}) {
                            auto r = in[1];
                            if (aligned) r = at::cat({r.narrow(1, 0, 3), r.narrow(1, 3, 2).abs(), r.narrow(1, 5, 1)}, 1);
                            auto out = mmcv::ops::roi_align_rotated(in[0], r, {3, 2}, 1.0, 2, aligned, false);
                            v.close(out, roi_align_rotated_ref::loop_reference(in[0], r, 3, 2, 1.0, 2, aligned, false).out,
                                    {1e-5, 1e-5}, "vs MMCV CPU loop reference");
                          }
                        });
  s.policy.emplace_back("NaN / Inf rois are rejected with a named error (MMCV: undefined behaviour)", [=](Verdict& v) {
    for (int col : {0, 1, 5})
      for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
        try {
          mmcv::ops::roi_align_rotated(x()[0], with_roi(col, bad), {2, 2});
          v.require(false, "non-finite roi accepted");
        } catch (const c10::Error& e) {
          const std::string m = e.what_without_backtrace();
          v.require(m.find(op + ": expected rois to contain only finite values") != std::string::npos, "message: " + m);
        }
      }
  });
  s.generate = rroi_sample;
  s.check = check_rroi;
  s.property_cases = 1000;
  s.device_tol = mmcv_test::Tol{1e-4, 1e-5};
  s.bench_inputs = [] { return rroi_inputs(93, 1, 256, 100, 152, 512, 0.125); };
  return s;
}
